#!/bin/sh
# PID 1 of a test VM: mount the basics, load the modules, configure the NAT
# interface (eth0, only for SSH from the host: no default route, so nothing a
# lab sends can leave through it) and the lab underlay (eth1), start sshd.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
while read -r module; do insmod "$module" 2>/dev/null; done </etc/netlab-modules
arg() { sed -n "s/.*netlab\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
hostname "$(arg node)"
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up
ip addr add "$(arg address)" dev eth1 && ip link set eth1 up
mkdir -p /run/sshd && /usr/sbin/sshd -f /etc/ssh/sshd_config
echo "netlab-vm: $(hostname) ready"
exec sleep infinity
