#!/bin/sh
# PID 1 of the kernel-tier initramfs (busybox sh). It loads the kernel modules, builds a root from the host's
# userland shared read-only over 9p (/usr and /etc only, plus the repository and further shares at their host
# paths), mounts the writable
# results share at /run/out, runs the repository's scripts/kernel/guest.sh in that root and reports its exit status
# through isa-debug-exit (QEMU then exits with (rc<<1)|1) and in /run/out/rc. Anything that ends the guest without
# that report (panic, plain poweroff) makes QEMU exit with status 0, which the host counts as a failure.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec 0</dev/console 1>/dev/console 2>&1
stty -onlcr 2>/dev/null # plain \n line ends on the serial console (the host streams it verbatim)

say() { echo "dn42op-kt: $*"; }
fail() {
  say "init failed: $*"
  poweroff -f # QEMU status 0: counted as a failure by the host
}

while read -r ko args; do
  insmod "/modules/$ko" $args || fail "insmod $ko"
done </modules.list

say "modules loaded after $(cut -d" " -f1 /proc/uptime)s"
repo=$(sed -n 's/.*dn42op\.repo=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$repo" ] || fail "no dn42op.repo= on the kernel command line"

ro9p="trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose"
new=/newroot
mkdir -p $new
mount -t tmpfs -o mode=0755 root $new || fail "tmpfs root"
mkdir -p $new/usr $new/etc $new/proc $new/sys $new/dev $new/run/out $new/tmp $new/var/tmp $new/root "$new$repo"
chmod 1777 $new/tmp $new/var/tmp
for d in bin sbin lib lib64; do ln -s usr/$d $new/$d; done # Debian's merged /usr
mount -t 9p -o $ro9p usr $new/usr || fail "9p usr"
mount -t 9p -o $ro9p etc $new/etc || fail "9p etc"
mount -t 9p -o $ro9p repo "$new$repo" || fail "9p repo"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out $new/run/out || fail "9p out"
# Further read-only shares at their host paths (dn42op.share=TAG:PATH), e.g. the directory of the host's Deno.
for word in $(cat /proc/cmdline); do
  case "$word" in dn42op.share=*:/*)
    tag=${word#dn42op.share=}; path=${tag#*:}; tag=${tag%%:*}
    mkdir -p "$new$path" && mount -t 9p -o $ro9p "$tag" "$new$path" || fail "9p $tag"
    ;;
  esac
done
mount -t proc proc $new/proc
mount -t sysfs sys $new/sys
mount -t devtmpfs dev $new/dev
mkdir -p $new/dev/pts $new/dev/shm
mount -t devpts devpts $new/dev/pts
mount -t tmpfs shm $new/dev/shm

say "init ready after $(cut -d' ' -f1 /proc/uptime)s of kernel uptime"
chroot $new /bin/bash "$repo/scripts/kernel/guest.sh"
rc=$?
[ "$rc" -le 127 ] || rc=127 # the exit device carries 7 bits
echo "$rc" >$new/run/out/rc
sync
umount $new/run/out
say "guest exit status $rc"
printf "\\$(printf %o "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
fail "isa-debug-exit did not stop QEMU"
