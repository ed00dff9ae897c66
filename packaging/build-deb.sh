#!/usr/bin/env bash
# Builds dist/nutcracker-go_<version>_<arch>.deb with dpkg-deb: `make install` into a staging
# tree (PREFIX=/usr, so the binary's default -c is /etc/nutcracker/nutcracker.yml), the files
# only a Debian system has (/etc/default, logrotate, docs), then the control archive.
#
# Environment: GO (go), VERSION (the Makefile's, from git describe), DEB_MAINTAINER, DIST (dist).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
MAINTAINER=${DEB_MAINTAINER:-nutcracker-go developers <nutcracker-go@users.noreply.github.com>}

# A Debian version starts with a digit and orders correctly: a tag v1.2.3 gives 1.2.3, a commit
# past it 1.2.3+4.gabcdef0, an untagged tree 0~git<commit time>.<commit>.
debian_version() {
	local v=${VERSION:-}
	if [[ $v =~ ^v?([0-9]+(\.[0-9]+)+)(-rc[0-9]+)?(-([0-9]+)-g([0-9a-f]+))?(-dirty)?$ ]]; then
		v=${BASH_REMATCH[1]}
		[ -n "${BASH_REMATCH[3]}" ] && v+="~${BASH_REMATCH[3]#-}"
		[ -n "${BASH_REMATCH[4]}" ] && v+="+${BASH_REMATCH[5]}.g${BASH_REMATCH[6]}"
		[ -n "${BASH_REMATCH[7]}" ] && v+=".dirty"
	elif when=$(git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null); then
		v="0~git$when.$(git rev-parse --short HEAD)"
		git diff --quiet HEAD 2>/dev/null || v+=".dirty"
	else
		v="0~dev"
	fi
	echo "$v"
}

# Debian's name for the architecture the go command builds for.
debian_arch() {
	case $($GO env GOARCH) in
	386) echo i386 ;;
	arm) echo armhf ;;
	ppc64le) echo ppc64el ;;
	*) $GO env GOARCH ;;
	esac
}

version=$(debian_version)
arch=$(debian_arch)
stage=$(mktemp -d "${TMPDIR:-/tmp}/nutcracker-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root

# A static binary (no cgo): the package depends on no libc version. Stripped, as Debian's
# binaries are (-s -w drop the symbol table and DWARF; panics still print file:line).
CGO_ENABLED=0 make --no-print-directory install GO="$GO" VERSION="${VERSION:-}" DESTDIR="$root" INSTALL_LDFLAGS="-s -w" \
	PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system
gzip -9n "$root/usr/share/man/man8/nutcracker.8"
install -D -m 0644 packaging/nutcracker.default "$root/etc/default/nutcracker"
install -D -m 0644 packaging/nutcracker.logrotate "$root/etc/logrotate.d/nutcracker"
install -d -m 0755 "$root/var/log/nutcracker"
doc=$root/usr/share/doc/nutcracker-go
install -d -m 0755 "$doc/examples"
gzip -9nc README.md >"$doc/README.md.gz"
install -m 0644 conf/examples.yml conf/sentinel.yml "$doc/examples/"

install -d -m 0755 "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
install -m 0644 packaging/debian/conffiles "$root/DEBIAN/"
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$MAINTAINER|" \
	-e "s|@SIZE@|$(du -sk --exclude=DEBIAN "$root" | cut -f1)|" \
	packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$DIST"
deb=$DIST/nutcracker-go_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
