#!/bin/sh
# build_deb.sh OUT.deb: a package whose maintainer script starts a daemon, as
# many packages do when installed into a chroot (no policy-rc.d, no init
# system to ask). The daemon, /usr/sbin/vdtestd, records its start in
# /var/lib/vdtest and then sleeps; its process stays chrooted into the image.
set -eu
out=$1
dir=$(mktemp -d "${out}.build.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/DEBIAN" "$dir/usr/sbin"
cat > "$dir/DEBIAN/control" <<'CONTROL'
Package: vdtest
Version: 1.0
Architecture: all
Maintainer: virt.disk tests <tests@virt-disk.invalid>
Description: virt.disk test package whose postinst starts a daemon
CONTROL
cat > "$dir/usr/sbin/vdtestd" <<'DAEMON'
#!/bin/sh
mkdir -p /var/lib/vdtest
echo started > /var/lib/vdtest/started
while :; do sleep 3600; done
DAEMON
cat > "$dir/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    start-stop-daemon --start --background --no-close --name vdtestd \
        --exec /usr/sbin/vdtestd </dev/null >/dev/null 2>&1
fi
POSTINST
chmod 0755 "$dir/DEBIAN/postinst" "$dir/usr/sbin/vdtestd"
dpkg-deb --root-owner-group --build "$dir" "$out" >/dev/null
