#!/usr/bin/env bash
# Builds the real components podlock's integration tests run (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# containerd, runc, CNI plugins) from the Go module proxy into a cache
# directory, and rebuilds only what is missing or whose version changed.
#
# usage: build.sh [CACHE_DIR] [component...]
#
#   CACHE_DIR   default $PODLOCK_TOOLS_CACHE, else <repo>/.cache/tools
#               (a path with a slash, or an existing directory)
#   component   apiserver   (etcd, kube-apiserver)
#               controllers (kube-controller-manager, kube-scheduler: what
#                           Deployments and DaemonSets need)
#               node        (kubelet, containerd, runc, cni)
#               all         (the default)
#               or one of: etcd kube-apiserver kube-controller-manager
#               kube-scheduler kubelet containerd runc cni
#
# Layout of CACHE_DIR:
#   bin/      etcd kube-apiserver kube-controller-manager kube-scheduler
#             kubelet containerd containerd-shim-runc-v2 ctr runc
#   cni/bin/  bridge host-local loopback
#   stamps/   one file per component: its version and a hash of its recipe
#
# Versions are pinned in the go.mod of each sub-module of this directory
# (etcd/, kube/, containerd/, runc/, cni/); changing one there rebuilds that
# component on the next run. The first build of everything takes 10 to 30
# minutes on 2 cores, most of it the Kubernetes components, which share
# most of their packages: kube-controller-manager and kube-scheduler add
# 165 packages to the 2395 of kube-apiserver and kubelet (about a minute).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

all_units=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet containerd runc cni)

is_unit() {
	local u
	for u in "${all_units[@]}" apiserver controllers node all; do
		[[ $1 == "$u" ]] && return 0
	done
	return 1
}

cache=${PODLOCK_TOOLS_CACHE:-$repo/.cache/tools}
# The first argument is the cache directory when it is not a component name
# and looks like a path (contains a slash, or is an existing directory).
if [[ $# -gt 0 ]] && ! is_unit "$1"; then
	if [[ $1 != */* && ! -d $1 ]]; then
		echo "build.sh: unknown component $1 (want apiserver, controllers, node, all, or one of ${all_units[*]}; a CACHE_DIR must contain a /)" >&2
		exit 2
	fi
	cache=$1
	shift
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Expand the requested components into units, in build order.
want=()
add() {
	local u w
	for u in "$@"; do
		for w in "${want[@]}"; do
			[[ $w == "$u" ]] && continue 2
		done
		want+=("$u")
	done
}
[[ $# -eq 0 ]] && set -- all
for c in "$@"; do
	case $c in
	all) add "${all_units[@]}" ;;
	apiserver) add etcd kube-apiserver ;;
	controllers) add kube-controller-manager kube-scheduler ;;
	node) add kubelet containerd runc cni ;;
	*)
		if ! is_unit "$c"; then
			echo "build.sh: unknown component $c (want apiserver, controllers, node, all, or one of ${all_units[*]})" >&2
			exit 2
		fi
		add "$c"
		;;
	esac
done

command -v go >/dev/null || {
	echo "build.sh: go is not in PATH" >&2
	exit 1
}
# Never download a Go toolchain behind the user's back.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# unit_* describe a unit: its sub-module, the packages it builds (package or
# package=binary-name) and where the binaries go.
unit_module() {
	case $1 in
	kube-apiserver | kube-controller-manager | kube-scheduler | kubelet) echo kube ;;
	*) echo "$1" ;;
	esac
}
unit_packages() {
	case $1 in
	etcd) echo go.etcd.io/etcd/server/v3=etcd ;;
	kube-apiserver) echo k8s.io/kubernetes/cmd/kube-apiserver ;;
	# Two binaries rather than one multi-call binary: linking each takes
	# 3 to 4 s here, a multi-call one would save about 2 s.
	kube-controller-manager) echo k8s.io/kubernetes/cmd/kube-controller-manager ;;
	kube-scheduler) echo k8s.io/kubernetes/cmd/kube-scheduler ;;
	kubelet) echo k8s.io/kubernetes/cmd/kubelet ;;
	containerd)
		echo github.com/containerd/containerd/v2/cmd/containerd \
			github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
			github.com/containerd/containerd/v2/cmd/ctr
		;;
	runc) echo github.com/opencontainers/runc ;;
	cni)
		echo github.com/containernetworking/plugins/plugins/main/bridge \
			github.com/containernetworking/plugins/plugins/ipam/host-local \
			github.com/containernetworking/plugins/plugins/main/loopback
		;;
	esac
}
unit_dest() {
	case $1 in
	cni) echo cni/bin ;;
	*) echo bin ;;
	esac
}

# module_* describe how a sub-module is built.
module_version_of() { # the module whose version names the build
	case $1 in
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kube) echo k8s.io/kubernetes ;;
	containerd) echo github.com/containerd/containerd/v2 ;;
	runc) echo github.com/opencontainers/runc ;;
	cni) echo github.com/containernetworking/plugins ;;
	esac
}
module_cgo() {
	case $1 in
	runc) echo 1 ;; # seccomp through libseccomp (apt-get install libseccomp-dev)
	*) echo 0 ;;
	esac
}
module_tags() {
	case $1 in
	runc) echo seccomp,urfave_cli_no_docs ;;
	containerd) echo urfave_cli_no_docs ;;
	*) echo "" ;;
	esac
}
module_ldflags() { # $1 module, $2 version; every -X has a leading space
	local v=$2 x=""
	case $1 in
	kube)
		local major minor p
		major=${v#v}
		major=${major%%.*}
		minor=${v#v*.}
		minor=${minor%%.*}
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			x+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
		done
		;;
	containerd)
		x=" -X github.com/containerd/containerd/v2/version.Version=$v"
		;;
	cni)
		x=" -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v"
		;;
	esac
	echo "-s -w$x"
}

module_version() {
	go -C "$here/$1" list -m -f '{{.Version}}' "$(module_version_of "$1")"
}

# stamp_key is what a unit's stamp must contain for it to be up to date.
stamp_key() { # $1 unit, $2 version
	local m recipe
	m=$(unit_module "$1")
	recipe="$(unit_packages "$1")|$(module_cgo "$m")|$(module_tags "$m")|$(module_ldflags "$m" "$2")"
	printf '%s %s go.mod:%s recipe:%s\n' "$1" "$2" \
		"$(cat "$here/$m/go.mod" "$here/$m/go.sum" | sha256sum | cut -c1-16)" \
		"$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"
}

up_to_date() { # $1 unit, $2 version
	local spec name
	[[ -f $cache/stamps/$1 && "$(cat "$cache/stamps/$1")" == "$(stamp_key "$1" "$2")" ]] || return 1
	for spec in $(unit_packages "$1"); do
		name=${spec#*=}
		name=${name##*/}
		[[ -x $cache/$(unit_dest "$1")/$name ]] || return 1
	done
}

# Serialise concurrent runs on the same cache.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	echo "build.sh: waiting for another build in $cache"
	flock 9
fi
mkdir -p "$cache/bin" "$cache/cni/bin" "$cache/stamps"

# Work out what is out of date, grouped by sub-module so that units sharing
# one (the Kubernetes components) are built by one `go build`.
declare -A version
todo=()
for u in "${want[@]}"; do
	m=$(unit_module "$u")
	if [[ -z ${version[$m]:-} ]]; then
		version[$m]=$(module_version "$m")
	fi
	if up_to_date "$u" "${version[$m]}"; then
		echo "== $u ${version[$m]}: up to date"
	else
		todo+=("$u")
	fi
done

built=()
total_start=$SECONDS
for m in etcd kube containerd runc cni; do
	units=()
	for u in "${todo[@]}"; do
		[[ $(unit_module "$u") == "$m" ]] && units+=("$u")
	done
	[[ ${#units[@]} -eq 0 ]] && continue

	v=${version[$m]}
	specs=()
	for u in "${units[@]}"; do
		for spec in $(unit_packages "$u"); do
			specs+=("$spec")
		done
	done
	tmp=$(mktemp -d "$cache/.build-$m.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	start=$SECONDS
	echo "== building ${units[*]} $v (module tests/tools/$m) into $cache"
	# One package goes to a named file, several to a directory (each binary
	# named after the last element of its package path).
	pkgs=()
	for spec in "${specs[@]}"; do
		pkgs+=("${spec%%=*}")
	done
	if [[ ${#pkgs[@]} -eq 1 ]]; then
		name=${specs[0]#*=}
		out=$tmp/${name##*/}
	else
		out=$tmp/
	fi
	cmd=(go build -trimpath -tags "$(module_tags "$m")" -ldflags "$(module_ldflags "$m" "$v")" -o "$out" "${pkgs[@]}")
	echo "+ cd tests/tools/$m && CGO_ENABLED=$(module_cgo "$m") ${cmd[*]}"
	if ! (cd "$here/$m" && CGO_ENABLED=$(module_cgo "$m") "${cmd[@]}"); then
		echo "build.sh: building ${units[*]} failed" >&2
		exit 1
	fi
	for u in "${units[@]}"; do
		dest=$cache/$(unit_dest "$u")
		for spec in $(unit_packages "$u"); do
			name=${spec#*=}
			name=${name##*/}
			mv -f "$tmp/$name" "$dest/$name"
			echo "   $dest/$name"
		done
		stamp_key "$u" "$v" >"$cache/stamps/$u"
		built+=("$u")
	done
	rm -rf "$tmp"
	trap - EXIT
	echo "== built ${units[*]} $v in $((SECONDS - start))s"
done

if [[ ${#built[@]} -gt 0 ]]; then
	echo "== done: built ${built[*]} in $((SECONDS - total_start))s; binaries in $cache/bin and $cache/cni/bin"
else
	echo "== done: everything up to date in $cache"
fi
