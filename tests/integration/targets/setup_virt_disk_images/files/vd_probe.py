# Look at the kernel, not at the module: which loop devices back the given
# images, which partition devices they have, what is mounted from them, and
# what is mounted below the target's temporary directory.
#
# usage: python vd_probe.py ROOT IMAGE [IMAGE...]
# Prints one JSON document.  Run through ansible.builtin.script.
import glob
import json
import os
import stat
import subprocess
import sys
import time


def read(path, default=''):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return default


def unescape(field):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out = ''
    i = 0
    while i < len(field):
        if field[i] == '\\' and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out += chr(int(field[i + 1:i + 4], 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mountinfo():
    mounts = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, right = line.rstrip('\n').split(' - ', 1)
            lf = left.split(' ')
            rf = right.split(' ')
            mounts.append({
                'path': unescape(lf[4]),
                'majmin': lf[2],
                'opts': lf[5].split(','),
                'fstype': rf[0],
                'source': unescape(rf[1]),
                'super_opts': rf[2].split(',') if len(rf) > 2 else [],
            })
    return mounts


def losetup_list():
    # losetup -J prints nothing at all when no loop device is attached
    out = subprocess.check_output(['losetup', '-J', '-l', '-O',
                                   'NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,OFFSET,RO,AUTOCLEAR'])
    out = out.decode('utf-8', 'replace').strip()
    if not out:
        return []
    return json.loads(out).get('loopdevices', [])


def majmin_of_dev(devpath):
    st = os.stat(devpath)
    return '%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))


def parts_of(dev):
    """Partition devices of a whole block device: kernel/partx partitions
    from sysfs, device-mapper maps holding it, and the /dev nodes seen."""
    name = os.path.basename(os.path.realpath(dev))
    sysdir = '/sys/block/%s' % name
    parts = []
    for p in sorted(glob.glob('%s/%s*' % (sysdir, name))):
        if os.path.exists(os.path.join(p, 'partition')):
            parts.append({
                'device': '/dev/' + os.path.basename(p),
                'sys': True,
                'node': os.path.exists('/dev/' + os.path.basename(p)),
                'number': int(read(os.path.join(p, 'partition'), '0')),
                'majmin': read(os.path.join(p, 'dev')),
                'ro': read(os.path.join(p, 'ro')) == '1',
                'start': int(read(os.path.join(p, 'start'), '0')) * 512,
                'size': int(read(os.path.join(p, 'size'), '0')) * 512,
            })
    for h in sorted(glob.glob('%s/holders/dm-*' % sysdir)):
        dm = os.path.basename(h)
        parts.append({
            'device': '/dev/mapper/' + read('/sys/block/%s/dm/name' % dm),
            'sys': True,
            'node': os.path.exists('/dev/mapper/' + read('/sys/block/%s/dm/name' % dm)),
            'number': None,
            'majmin': read('/sys/block/%s/dev' % dm),
            'ro': read('/sys/block/%s/ro' % dm) == '1',
            'start': None,
            'size': int(read('/sys/block/%s/size' % dm, '0')) * 512,
        })
    # nodes in /dev with no sysfs entry (stale nodes) count as leftovers too
    known = set(p['device'] for p in parts)
    for node in sorted(glob.glob('/dev/%sp*' % name)):
        if node not in known:
            parts.append({'device': node, 'sys': False, 'node': True, 'number': None,
                          'majmin': None, 'ro': None, 'start': None, 'size': None})
    return parts


def settle_dev_nodes(deadline=0.5):
    """devtmpfs removes the node of a deleted partition asynchronously, a
    few milliseconds after sysfs: wait until every /dev/loopNpM node has a
    sysfs entry (or the deadline passes: then the stale nodes are real
    leftovers, e.g. made with mknod, and are reported)."""
    end = time.time() + deadline
    while True:
        stale = [n for n in glob.glob('/dev/loop*p*')
                 if not os.path.exists('/sys/class/block/' + os.path.basename(n))]
        if not stale or time.time() > end:
            return stale
        time.sleep(0.02)


def main():
    root = os.path.realpath(sys.argv[1])
    stale_nodes = settle_dev_nodes()
    images = sys.argv[2:]
    loops = losetup_list()
    mounts = mountinfo()
    result = {'root': root, 'images': {}, 'mounts_under_root': [],
              'root_exists': os.path.isdir(root),
              'dev_loop': sorted(glob.glob('/dev/loop*')),
              'stale_nodes': sorted(stale_nodes)}
    for m in mounts:
        if m['path'] == root or m['path'].startswith(root + '/'):
            result['mounts_under_root'].append(m)
    for image in images:
        info = {'image': image, 'exists': os.path.exists(image), 'loops': [],
                'devices': [], 'parts': [], 'mounts': [], 'ro': {}, 'majmin': {}}
        real = os.path.realpath(image)
        st = os.stat(real) if os.path.exists(real) else None
        if st is not None and stat.S_ISBLK(st.st_mode):
            info['devices'].append(real)
        elif st is not None and stat.S_ISREG(st.st_mode):
            for lo in loops:
                same_path = lo.get('back-file') in (real, real + ' (deleted)')
                same_ino = (str(lo.get('back-ino')) == str(st.st_ino) and
                            lo.get('back-maj:min') == '%d:%d' % (os.major(st.st_dev), os.minor(st.st_dev)))
                if same_path or same_ino:
                    info['loops'].append({
                        'name': lo['name'],
                        'offset': int(lo.get('offset') or 0),
                        'ro': lo.get('ro') in (True, 1, '1'),
                        'autoclear': lo.get('autoclear') in (True, 1, '1'),
                        'back_file': lo.get('back-file'),
                    })
                    info['devices'].append(lo['name'])
        majmins = set()
        for dev in info['devices']:
            info['ro'][dev] = read('/sys/block/%s/ro' % os.path.basename(dev)) == '1'
            info['majmin'][dev] = majmin_of_dev(dev)
            majmins.add(info['majmin'][dev])
            for p in parts_of(dev):
                info['parts'].append(p)
                if p['majmin']:
                    majmins.add(p['majmin'])
        info['part_devices'] = [p['device'] for p in info['parts']]
        info['mounts'] = [m for m in mounts if m['majmin'] in majmins]
        info['mount_paths'] = [m['path'] for m in info['mounts']]
        result['images'][image] = info
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == '__main__':
    main()
