#!/usr/bin/env bash
# scripts/build-deb.sh: `make deb`: a Debian package of the build, $DEB_DIR/denali_VERSION_ARCH.deb, with dpkg-deb.
#
# The files are make install's (scripts/install.sh) under /usr, in Debian's places (the unit in /lib/systemd/system,
# zsh completions in vendor-completions), then made as Debian wants them: the binary and the guest images stripped, man pages and the
# changelog compressed, the copyright and lintian overrides added, every directory 0755 and file 0644 (the binary
# 0755), every file dated by the commit (SOURCE_DATE_EPOCH). Config/debian/ holds the control template, the
# maintainer scripts (the socket group through systemd-sysusers; the unit through deb-systemd-helper and
# deb-systemd-invoke, as debhelper writes them), conffiles (/etc/denali/denalid.conf), copyright and the lintian
# overrides. Depends comes from dpkg-shlibdeps on the binary. The tools come from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CONFIGURATION:=release}" "${DEB_DIR:=.build/$CONFIGURATION-deb}" "${DEB_COMPRESSION:=xz}" "${DEB_LEVEL:=}"
: "${GENERATED:=.build/$CONFIGURATION-generated}"
version=${DENALI_VERSION:?DENALI_VERSION is the package version (the Makefile sets it)}
commit=${DENALI_GIT_COMMIT:-}
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
architecture=$(dpkg --print-architecture)
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
maintainer=$(sed -n 's/^Maintainer: //p' Config/debian/control)

mkdir -p "$DEB_DIR"
DEB_DIR=$(cd "$DEB_DIR" && pwd)
root=$DEB_DIR/root
package=$DEB_DIR/denali_${version}_$architecture.deb
rm -rf "$root" "$package"
mkdir -p "$root"

# Every variable set: the Makefile exports its own (for /usr/local), and none of them may leak in here.
env DESTDIR="$root" PREFIX=/usr BINDIR=/usr/bin DATADIR=/usr/share MANDIR=/usr/share/man \
  DOCDIR=/usr/share/doc/denali GUESTDIR=/usr/share/denali/guests SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
  SYSUSERSDIR=/usr/lib/sysusers.d BASHCOMPDIR=/usr/share/bash-completion/completions \
  ZSHCOMPDIR=/usr/share/zsh/vendor-completions FISHCOMPDIR=/usr/share/fish/vendor_completions.d \
  CONFIGURATION="$CONFIGURATION" GENERATED="$GENERATED" MANIFEST=no \
  bash scripts/install.sh install >/dev/null

# As dh_strip does; the guest images too (denalid's loader reads their program headers only).
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/denalid" \
  "$root"/usr/share/denali/guests/*.elf
gzip -9n "$root"/usr/share/man/man1/*.1
install -m 0644 Config/debian/copyright "$root/usr/share/doc/denali/copyright"
{
  echo "denali ($version) unstable; urgency=medium"
  echo
  echo "  * Built from Denali on KVM, commit ${commit:-unknown}."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$root/usr/share/doc/denali/changelog.gz"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 Config/debian/lintian-overrides "$root/usr/share/lintian/overrides/denali"

find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/bin/denalid"

# The control files.
mkdir -m 0755 "$root/DEBIAN"
shlibs=$(mktemp -d)
mkdir "$shlibs/debian"
printf 'Source: denali\n\nPackage: denali\nArchitecture: any\n' >"$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O -e"$root/usr/bin/denalid" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs"
[[ -n $depends ]] || { echo "build-deb: dpkg-shlibdeps found no dependencies for denalid" >&2; exit 1; }
size=$(du -sk --apparent-size "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCHITECTURE@|$architecture|" -e "s|@INSTALLED_SIZE@|$size|" \
  -e "s|@DEPENDS@|$depends|" Config/debian/control >"$root/DEBIAN/control"
install -m 0644 Config/debian/conffiles "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "Config/debian/$script" "$root/DEBIAN/$script"; done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
  grep -v -x -F -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -d '\n' md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Z"$DEB_COMPRESSION" ${DEB_LEVEL:+-z"$DEB_LEVEL"} --build "$root" "$package" >/dev/null
echo "build-deb: $package ($(du -h "$package" | cut -f1), Depends: $depends)"
