# Look at the kernel and the process table, not at the module, for the
# image_mount_qemu_* targets: loop devices over the given images or over
# their FUSE exports (/run/virt-disk/fuse/<key>.raw, key = file-MAJ-MIN-INO),
# partition devices, mounts of them, live qemu helpers (qemu-storage-daemon,
# qemu-nbd, qemu-img) whose arguments name an image or the temporary
# directory or that hold one open, and what is mounted below the temporary
# directory.
#
# usage: python vq_probe.py ROOT [IMAGE...]
# Prints one JSON document.  Run through ansible.builtin.script.
import errno
import glob
import json
import os
import stat
import sys

FUSE_DIR = '/run/virt-disk/fuse'
HELPERS = ('qemu-storage-daemon', 'qemu-nbd', 'qemu-img')


def read(path, default=''):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return default


def unescape(field):
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


def loops():
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
        except (IOError, OSError):
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


def main():
    root = os.path.realpath(sys.argv[1])
    images = sys.argv[2:]
    all_mounts = mountinfo()
    all_loops = loops()
    procs = processes()
    try:
        fuse_files = sorted(os.listdir(FUSE_DIR))
    except OSError:
        fuse_files = []
    result = {'images': {}, 'fuse_files': fuse_files, 'helpers': procs,
              'mounts_under_root': [m for m in all_mounts
                                    if m['path'] == root or m['path'].startswith(root + '/')],
              'fuse_exports_mounted': [m['path'] for m in all_mounts if m['path'].startswith(FUSE_DIR + '/')],
              'loops_over_fuse': [lo['name'] for lo in all_loops if lo['backing'].startswith(FUSE_DIR + '/')],
              'helpers_under_root': [p['pid'] for p in procs
                                     if any(root in a for a in p['argv'] + p['files'])]}
    for image in images:
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
            info['export_mounted'] = any(m['path'] == info['export'] for m in all_mounts)
        if st is not None and stat.S_ISFIFO(st.st_mode):
            info['fifo_has_reader'] = fifo_has_reader(real)
        # a loop over the image itself, or over its export (the export name
        # carries the key even when the export file is gone)
        mine = [lo for lo in all_loops
                if lo['backing'] == real or (info['key'] and lo['backing'] == info['export'])]
        majmins = {}
        for lo in mine:
            majmins[lo['majmin']] = lo['name']
            for p in lo['parts']:
                majmins[p['majmin']] = p['device']
        info['loops'] = mine
        info['devices'] = [lo['name'] for lo in mine]
        info['part_devices'] = [p['device'] for lo in mine for p in lo['parts']]
        info['mounts'] = [dict(m, device=majmins[m['majmin']]) for m in all_mounts if m['majmin'] in majmins]
        # a helper naming the image (or its export) in its arguments, or
        # holding it open
        info['helpers'] = [p for p in procs
                           if any(real in a or (info['export'] and info['export'] in a) for a in p['argv'])
                           or real in p['files'] or (info['export'] and info['export'] in p['files'])]
        info['helper_pids'] = [p['pid'] for p in info['helpers']]
        result['images'][image] = info
    print(json.dumps(result, sort_keys=True))


if __name__ == '__main__':
    main()
