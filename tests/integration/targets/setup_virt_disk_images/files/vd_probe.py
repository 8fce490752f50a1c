"""Look at the kernel, not at the module.

usage: python vd_probe.py loop ROOT IMAGE [IMAGE...]
       python vd_probe.py qemu ROOT [IMAGE...]

Prints one JSON document.  Run through ansible.builtin.script.

loop (setup_virt_disk_images, tasks/probe.yml and tasks/assert_state.yml):
  which loop devices back the given images (losetup), which partition
  devices they have, what is mounted from them, and what is mounted below
  ROOT, the target's temporary directory.

qemu (image_mount_qemu_common, tasks/probe.yml and tasks/cleanup.yml): the
  same for the image_mount_qemu_* targets, plus the process table: loop
  devices over the given images or over their FUSE exports
  (/run/virt-disk/fuse/<key>.raw, key = file-MAJ-MIN-INO), partition
  devices, mounts of them, live qemu helpers (qemu-storage-daemon,
  qemu-nbd, qemu-img) whose arguments name an image or ROOT or that hold
  one open, and what is mounted below ROOT.
"""
import errno
import glob
import json
import os
import stat
import subprocess
import sys
import time

FUSE_DIR = '/run/virt-disk/fuse'
HELPERS = ('qemu-storage-daemon', 'qemu-nbd', 'qemu-img')


# Shared by both probes ------------------------------------------------------

def read(path, default=''):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
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


def mounts_under(mounts, root):
    return [m for m in mounts if m['path'] == root or m['path'].startswith(root + '/')]


def majmin(st_dev):
    return '%d:%d' % (os.major(st_dev), os.minor(st_dev))


# loop: the image_mount targets of setup_virt_disk_images ---------------------

def losetup_list():
    # losetup -J prints nothing at all when no loop device is attached
    out = subprocess.check_output(['losetup', '-J', '-l', '-O',
                                   'NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,OFFSET,RO,AUTOCLEAR'])
    out = out.decode('utf-8', 'replace').strip()
    if not out:
        return []
    return json.loads(out).get('loopdevices', [])


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


def loop_image(image, loops, mounts):
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
                        lo.get('back-maj:min') == majmin(st.st_dev))
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
        info['majmin'][dev] = majmin(os.stat(dev).st_rdev)
        majmins.add(info['majmin'][dev])
        for p in parts_of(dev):
            info['parts'].append(p)
            if p['majmin']:
                majmins.add(p['majmin'])
    info['part_devices'] = [p['device'] for p in info['parts']]
    info['mounts'] = [m for m in mounts if m['majmin'] in majmins]
    info['mount_paths'] = [m['path'] for m in info['mounts']]
    return info


def probe_loop(root, images):
    stale_nodes = settle_dev_nodes()
    loops = losetup_list()
    mounts = mountinfo()
    return {'root': root,
            'images': {image: loop_image(image, loops, mounts) for image in images},
            'mounts_under_root': mounts_under(mounts, root),
            'root_exists': os.path.isdir(root),
            'dev_loop': sorted(glob.glob('/dev/loop*')),
            'stale_nodes': sorted(stale_nodes)}


# qemu: image_mount_qemu_common ----------------------------------------------

def sysfs_loops():
    """Every attached loop device: name, backing file, ro, majmin, partitions."""
    found = []
    for sysdir in sorted(glob.glob('/sys/block/loop*')):
        name = os.path.basename(sysdir)
        backing = read(sysdir + '/loop/backing_file')
        if not backing:
            continue
        deleted = backing.endswith(' (deleted)')
        if deleted:
            backing = backing[:-len(' (deleted)')]
        parts = []
        for p in sorted(glob.glob('%s/%s*' % (sysdir, name))):
            if os.path.exists(p + '/partition'):
                parts.append({'device': '/dev/' + os.path.basename(p), 'majmin': read(p + '/dev'),
                              'number': int(read(p + '/partition', '0')), 'ro': read(p + '/ro') == '1'})
        found.append({'name': '/dev/' + name, 'backing': backing, 'deleted': deleted,
                      'ro': read(sysdir + '/ro') == '1', 'majmin': read(sysdir + '/dev'),
                      'offset': int(read(sysdir + '/loop/offset', '0') or 0), 'parts': parts})
    return found


def processes():
    """Live qemu helpers (zombies, State Z, are left out: PID 1 reaps slowly)."""
    found = []
    for d in glob.glob('/proc/[0-9]*'):
        try:
            with open(d + '/cmdline', 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) not in HELPERS:
            continue
        state = ''
        for line in read(d + '/status').splitlines():
            if line.startswith('State:'):
                state = line.split()[1]
        if state in ('Z', 'X', ''):
            continue
        files = []
        for fd in glob.glob(d + '/fd/*'):
            try:
                files.append(os.readlink(fd))
            except OSError:
                pass
        found.append({'pid': int(os.path.basename(d)), 'name': os.path.basename(argv[0]),
                      'state': state, 'argv': argv, 'files': sorted(set(files))})
    return sorted(found, key=lambda p: p['pid'])


def fifo_has_reader(path):
    """Whether something has the FIFO open for reading, without blocking."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return False
        raise
    os.close(fd)
    return True


def qemu_image(image, loops, mounts, procs):
    real = os.path.realpath(image)
    info = {'image': real, 'exists': os.path.lexists(real), 'key': None, 'export': None,
            'export_exists': False, 'export_mounted': False, 'fifo_has_reader': None}
    try:
        st = os.stat(real)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        info['key'] = 'file-%d-%d-%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        info['export'] = '%s/%s.raw' % (FUSE_DIR, info['key'])
        info['export_exists'] = os.path.lexists(info['export'])
        info['export_mounted'] = any(m['path'] == info['export'] for m in mounts)
    if st is not None and stat.S_ISFIFO(st.st_mode):
        info['fifo_has_reader'] = fifo_has_reader(real)
    # a loop over the image itself, or over its export (the export name
    # carries the key even when the export file is gone)
    mine = [lo for lo in loops
            if lo['backing'] == real or (info['key'] and lo['backing'] == info['export'])]
    majmins = {}
    for lo in mine:
        majmins[lo['majmin']] = lo['name']
        for p in lo['parts']:
            majmins[p['majmin']] = p['device']
    info['loops'] = mine
    info['devices'] = [lo['name'] for lo in mine]
    info['part_devices'] = [p['device'] for lo in mine for p in lo['parts']]
    info['mounts'] = [dict(m, device=majmins[m['majmin']]) for m in mounts if m['majmin'] in majmins]
    # a helper naming the image (or its export) in its arguments, or
    # holding it open
    info['helpers'] = [p for p in procs
                       if any(real in a or (info['export'] and info['export'] in a) for a in p['argv'])
                       or real in p['files'] or (info['export'] and info['export'] in p['files'])]
    info['helper_pids'] = [p['pid'] for p in info['helpers']]
    return info


def probe_qemu(root, images):
    mounts = mountinfo()
    loops = sysfs_loops()
    procs = processes()
    try:
        fuse_files = sorted(os.listdir(FUSE_DIR))
    except OSError:
        fuse_files = []
    return {'images': {image: qemu_image(image, loops, mounts, procs) for image in images},
            'fuse_files': fuse_files,
            'helpers': procs,
            'mounts_under_root': mounts_under(mounts, root),
            'fuse_exports_mounted': [m['path'] for m in mounts if m['path'].startswith(FUSE_DIR + '/')],
            'loops_over_fuse': [lo['name'] for lo in loops if lo['backing'].startswith(FUSE_DIR + '/')],
            'helpers_under_root': [p['pid'] for p in procs
                                   if any(root in a for a in p['argv'] + p['files'])]}


PROBES = {'loop': probe_loop, 'qemu': probe_qemu}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in PROBES:
        sys.exit(__doc__)
    probe = PROBES[sys.argv[1]]
    result = probe(os.path.realpath(sys.argv[2]), sys.argv[3:])
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == '__main__':
    main()
