#!/usr/bin/env bash
# The quickstart of podlock on one machine, without Kubernetes: a busybox
# container started through podlock-runtime and runc, its /bin/sh confined
# by a LandlockProfile; then learning mode: a profile recorded from a run,
# applied to the next. Needs root, runc and busybox-static (make demo
# installs them). BIN is where podlock-runtime and podlock-helper are.
set -euo pipefail

BIN=${BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
work=$(mktemp -d /tmp/podlock-demo.XXXXXX)
chmod 755 "$work"
trap 'for c in demo record again; do runc --root "$work/state" delete --force $c >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a busybox-static root filesystem"
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,proc,dev,sys,opt/bin}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
cp /bin/busybox "$rootfs/opt/bin/id" # a distinct binary, not listed anywhere
for applet in $(/bin/busybox --list); do
	[ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo podlock-demo >"$rootfs/etc/hostname"
echo "welcome to podlock" >"$rootfs/etc/motd"
echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
echo "$rootfs"

say "the profile: /bin/sh of container 'app' may run a few applets, write /tmp, read two files"
mkdir -p "$work/profiles"
tee "$work/profiles/demo.yaml" <<'YAML'
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
  namespace: default
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/echo, /bin/cat, /bin/cp, /bin/sleep]
        readWrite: [/tmp]
        readOnly: [/etc/hostname, /etc/motd]
YAML

say "the container: the annotations containerd sets for container 'app' of a pod labelled with the profile"
script='cat /etc/hostname
/opt/bin/id
cp /etc/motd /motd
cp /etc/motd /tmp && echo copied motd to /tmp
cp /etc/passwd /tmp
exit 0'
runc spec --bundle "$work/bundle"
jq --arg script "$script" '
	.process.terminal = false |
	.process.args = ["sh", "-c", $script] |
	.root.readonly = false |
	.hostname = "podlock-demo" |
	.annotations = {
		"io.kubernetes.cri.container-type": "container",
		"io.kubernetes.cri.container-name": "app",
		"io.kubernetes.cri.sandbox-namespace": "default",
		"podlock.kubewarden.io/profile": "demo"
	}' "$work/bundle/config.json" >"$work/config.json"
mv "$work/config.json" "$work/bundle/config.json"
printf '%s\n' "$script"

say "run it through podlock-runtime (which hands over to runc)"
PODLOCK_CONFIG=/dev/null PODLOCK_PROFILES_DIR="$work/profiles" \
	"$BIN/podlock-runtime" --root "$work/state" --log "$work/log.json" --log-format json \
	run --bundle "$work/bundle" demo

say "what podlock added to config.json"
jq -c '{args: .process.args, noNewPrivileges: .process.noNewPrivileges,
	mounts: [.mounts[] | select(.destination | startswith("/.podlock"))],
	hooks: .hooks.createContainer}' "$work/bundle/config.json"

# learn_bundle DIR SCRIPT makes a bundle of container 'app' of pod
# default/learner, bound to LandlockProfile 'learned', on the same rootfs.
learn_bundle() {
	mkdir -p "$1"
	runc spec --bundle "$1"
	jq --arg script "$2" --arg rootfs "$rootfs" '
		.process.terminal = false |
		.process.args = ["sh", "-c", $script] |
		.root = {path: $rootfs, readonly: false} |
		.hostname = "podlock-demo" |
		.annotations = {
			"io.kubernetes.cri.container-type": "container",
			"io.kubernetes.cri.container-name": "app",
			"io.kubernetes.cri.sandbox-namespace": "default",
			"io.kubernetes.cri.sandbox-name": "learner",
			"podlock.kubewarden.io/profile": "learned"
		}' "$1/config.json" >"$work/config.json"
	mv "$work/config.json" "$1/config.json"
}

learn() {
	PODLOCK_CONFIG=/dev/null PODLOCK_PROFILES_DIR="$work/profiles" PODLOCK_RECORD_DIR="$work/records" \
		"$BIN/podlock-runtime" --root "$work/state" --log "$work/log.json" --log-format json \
		run --bundle "$1" "$(basename "$1")"
}

say "learning mode: profile 'learned' is in mode Record; the container runs observed"
tee "$work/profiles/learned.yaml" <<'YAML'
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: learned
  namespace: default
spec:
  mode: Record
YAML
script='cat /etc/motd; echo note >/tmp/note; ls /opt/bin'
printf '%s\n' "$script"
learn_bundle "$work/learn/record" "$script"
learn "$work/learn/record"

say "what it recorded (the agent writes when the container is gone)"
for _ in $(seq 100); do
	[ -f "$work/records/default/learned.yaml" ] && ! ls "$work/records/.agents/"*.sock >/dev/null 2>&1 && break
	sleep 0.1
done
sed -n '/^kind: LandlockProfile/,/^---/p' "$work/records/default/learned.yaml"

say "applied: the same script runs again; one more path is denied"
cp "$work/records/default/learned.yaml" "$work/profiles/learned.yaml"
learn_bundle "$work/learn/again" "$script; cat /etc/passwd; exit 0"
learn "$work/learn/again"
