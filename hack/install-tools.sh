#!/usr/bin/env bash
# install-tools.sh builds the pinned third-party tools used by the e2e tests
# into <repo>/.bin/, from source, through the Go module proxy.
#
# Usage: hack/install-tools.sh [oras|registry|cosign|cosign3|fulcio|tsa|localkms|etcd|kube-apiserver|light|keyless|kube|all]...
#   light (the default) = oras + registry; keyless = fulcio + tsa;
#   kube = etcd + kube-apiserver (for the admission webhook's test);
#   all = light + cosign (v2) + cosign3 (v3) + keyless + localkms (an AWS
#   KMS-compatible server) + kube.
#
# Each tool has its own Go module under hack/tools/<tool>/ whose go.mod pins
# the version (a `tool` directive plus the exact require) and whose go.sum
# pins every dependency. One module per tool keeps each tool on exactly the
# dependency versions its upstream release uses, and keeps the slow cosign
# build (minutes, cold) out of the way of the light tools.
#
# A stamp file .bin/.<tool>.version records the pinned version and a hash of
# the module's go.mod and go.sum; when it matches and the binary exists, the
# tool is not rebuilt. Changing a pin (go get -tool ...@vX in the module dir)
# changes the hash, so the next run rebuilds.
#
# Built binaries are also kept per machine, by that hash, in
# $VESSEL_TOOLS_CACHE (default: $XDG_CACHE_HOME/vessel/tools, or
# ~/.cache/vessel/tools): a fresh clone copies them instead of building
# again (kube-apiserver takes minutes on two cores).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${repo_root}/hack/tools"
bin_dir="${repo_root}/.bin"

usage() {
	echo "usage: $0 [oras|registry|cosign|cosign3|fulcio|tsa|localkms|etcd|kube-apiserver|light|keyless|kube|all]..." >&2
	exit 2
}

# tool_info sets module (the pinned module path), pkg (the main package) and
# ldflags_x (the -X version stamping the upstream release builds do, with
# @VERSION@ standing for the pinned version) for $1.
tool_info() {
	case "$1" in
	oras)
		module="oras.land/oras"
		pkg="oras.land/oras/cmd/oras"
		# oras hard-codes its version in internal/version; nothing to stamp.
		ldflags_x=""
		;;
	registry)
		module="github.com/distribution/distribution/v3"
		pkg="github.com/distribution/distribution/v3/cmd/registry"
		ldflags_x="-X github.com/distribution/distribution/v3/version.version=@VERSION@"
		;;
	cosign)
		module="github.com/sigstore/cosign/v2"
		pkg="github.com/sigstore/cosign/v2/cmd/cosign"
		# Without this, `cosign version` reports "devel".
		ldflags_x="-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@ -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
		;;
	cosign3)
		# The cosign release most people run; v2 (cosign) stays for those
		# who have not moved.
		module="github.com/sigstore/cosign/v3"
		pkg="github.com/sigstore/cosign/v3/cmd/cosign"
		ldflags_x="-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@ -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
		;;
	fulcio)
		# Sigstore's certificate authority, for keyless signing offline
		# (the e2e tests run it with an ephemeral CA and a local OIDC issuer).
		module="github.com/sigstore/fulcio"
		pkg="github.com/sigstore/fulcio"
		ldflags_x="-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@ -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
		;;
	tsa)
		# Sigstore's RFC 3161 timestamp authority (in-memory signer).
		module="github.com/sigstore/timestamp-authority/v2"
		pkg="github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server"
		ldflags_x="-X sigs.k8s.io/release-utils/version.gitVersion=@VERSION@ -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
		;;
	localkms)
		# An AWS KMS-compatible server (nsmithuk/local-kms) for signing
		# with awskms:// keys offline.
		module="github.com/nsmithuk/local-kms"
		pkg="github.com/nsmithuk/local-kms"
		ldflags_x=""
		;;
	etcd)
		# The API server's store, for the admission webhook's test.
		module="go.etcd.io/etcd/server/v3"
		pkg="go.etcd.io/etcd/server/v3"
		ldflags_x=""
		;;
	kube-apiserver)
		# Kubernetes' API server: admission webhooks are called by it
		# alone, no kubelet needed. The module replaces k8s.io/kubernetes'
		# staging directories with their published releases.
		module="k8s.io/kubernetes"
		pkg="k8s.io/kubernetes/cmd/kube-apiserver"
		ldflags_x="-X k8s.io/component-base/version.gitVersion=@VERSION@"
		;;
	*)
		echo "install-tools: unknown tool '$1'" >&2
		usage
		;;
	esac
}

# sha256_of prints the sha256 of the concatenation of its file arguments.
sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		cat "$@" | sha256sum | cut -d' ' -f1
	else
		cat "$@" | shasum -a 256 | cut -d' ' -f1
	fi
}

install_tool() {
	local tool="$1" module pkg ldflags_x
	tool_info "$tool"

	local mod_dir="${tools_dir}/${tool}"
	if [[ ! -f "${mod_dir}/go.mod" || ! -f "${mod_dir}/go.sum" ]]; then
		echo "install-tools: ${tool}: missing ${mod_dir}/go.mod or go.sum" >&2
		exit 1
	fi

	# Read the pin straight from go.mod: `go list -m` would cost a Go
	# invocation on every cached run.
	local version
	version="$(awk -v m="$module" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "${mod_dir}/go.mod")"
	if [[ -z "$version" ]]; then
		echo "install-tools: ${tool}: no 'require ${module}' in ${mod_dir}/go.mod" >&2
		exit 1
	fi

	local stamp_file="${bin_dir}/.${tool}.version"
	local stamp
	stamp="${version} $(sha256_of "${mod_dir}/go.mod" "${mod_dir}/go.sum")"
	local bin="${bin_dir}/${tool}"

	if [[ -x "$bin" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
		echo "${tool} ${version}: up to date (.bin/${tool})"
		return
	fi

	mkdir -p "$bin_dir"
	local cache_dir="${VESSEL_TOOLS_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/vessel/tools}"
	local cached="${cache_dir}/${tool}-$(printf '%s' "$stamp" | sha256_of /dev/stdin)"
	if [[ -x "$cached" ]]; then
		cp "$cached" "${bin}.tmp.$$"
		mv -f "${bin}.tmp.$$" "$bin"
		printf '%s\n' "$stamp" >"$stamp_file"
		echo "${tool} ${version}: copied from ${cached}"
		return
	fi

	local ldflags="-s -w"
	if [[ -n "$ldflags_x" ]]; then
		ldflags="${ldflags} ${ldflags_x//@VERSION@/$version}"
	fi

	local tmp="${bin}.tmp.$$"
	local start=$SECONDS
	# GOWORK=off: a go.work at the repo root must not pull the tool modules in
	# or out. -mod=readonly: build exactly what go.mod/go.sum pin, or fail.
	# CGO_ENABLED=0: static binaries, as the upstream releases ship.
	if ! (cd "$mod_dir" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
		go build -trimpath -ldflags="$ldflags" -o "$tmp" "$pkg"); then
		rm -f "$tmp"
		echo "install-tools: ${tool}: go build ${pkg} (${version}) in ${mod_dir} failed" >&2
		exit 1
	fi
	# Keep a copy for other clones (best effort), then rename into place
	# so a concurrent run never sees a half-written binary.
	if mkdir -p "$cache_dir" 2>/dev/null && cp "$tmp" "${cached}.tmp.$$" 2>/dev/null; then
		mv -f "${cached}.tmp.$$" "$cached"
	fi
	mv -f "$tmp" "$bin"
	printf '%s\n' "$stamp" >"$stamp_file"
	echo "${tool} ${version}: built in $((SECONDS - start))s (.bin/${tool})"
}

main() {
	local -a tools=()
	if [[ $# -eq 0 ]]; then
		set -- light
	fi
	local arg
	for arg in "$@"; do
		case "$arg" in
		light) tools+=(oras registry) ;;
		all) tools+=(oras registry cosign cosign3 fulcio tsa localkms etcd kube-apiserver) ;;
		keyless) tools+=(fulcio tsa) ;;
		kube) tools+=(etcd kube-apiserver) ;;
		oras | registry | cosign | cosign3 | fulcio | tsa | localkms | etcd | kube-apiserver) tools+=("$arg") ;;
		-h | --help) usage ;;
		*)
			echo "install-tools: unknown tool '$arg'" >&2
			usage
			;;
		esac
	done

	if ! command -v go >/dev/null 2>&1; then
		echo "install-tools: 'go' not found in PATH; install Go first" >&2
		exit 1
	fi

	# Build each tool once, in the order given. (A plain string rather than
	# an associative array: macOS still ships bash 3.2.)
	local seen=" " tool
	for tool in "${tools[@]}"; do
		if [[ "$seen" != *" ${tool} "* ]]; then
			seen="${seen}${tool} "
			install_tool "$tool"
		fi
	done
}

main "$@"
