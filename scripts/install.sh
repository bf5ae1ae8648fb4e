#!/usr/bin/env bash
# scripts/install.sh install|uninstall: `make install` and `make uninstall` (the Makefile passes every variable).
#
# install copies what the build made into $DESTDIR: the daemon, the systemd unit (its paths rewritten to where
# things are installed), the sysusers.d entry for the denali group, the default configuration (only if none is
# there: an existing one is kept), the guest images as examples, the documents, the man pages and the shell
# completions. It records every file it wrote and every directory it had to create in a manifest
# ($DATADIR/denali/installed-files), and uninstall removes exactly those: files, then the directories, deepest
# first, when empty; a configuration changed since install is kept (and said so).
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:?usage: install.sh install|uninstall}
: "${DESTDIR=}" "${PREFIX:=/usr/local}"
: "${BINDIR:=$PREFIX/bin}" "${DATADIR:=$PREFIX/share}" "${SYSCONFDIR:=/etc}"
: "${MANDIR:=$DATADIR/man}" "${DOCDIR:=$DATADIR/doc/denali}" "${GUESTDIR:=$DATADIR/denali/guests}"
: "${UNITDIR:=$PREFIX/lib/systemd/system}" "${SYSUSERSDIR:=$PREFIX/lib/sysusers.d}"
: "${BASHCOMPDIR:=$DATADIR/bash-completion/completions}" "${ZSHCOMPDIR:=$DATADIR/zsh/site-functions}"
: "${FISHCOMPDIR:=$DATADIR/fish/vendor_completions.d}"
: "${CONFIGURATION:=release}" "${GENERATED:=.build/$CONFIGURATION-generated}" "${GUESTS_BUILD:=Guests/build}"
: "${MANIFEST:=yes}"

for variable in PREFIX BINDIR DATADIR SYSCONFDIR MANDIR DOCDIR GUESTDIR UNITDIR SYSUSERSDIR BASHCOMPDIR \
  ZSHCOMPDIR FISHCOMPDIR; do
  [[ ${!variable} == /* && ${!variable} != *$'\n'* ]] || { echo "install: $variable must be an absolute path: '${!variable}'" >&2; exit 2; }
done
if [[ -n $DESTDIR && $DESTDIR != /* ]]; then DESTDIR=$PWD/$DESTDIR; fi
DESTDIR=${DESTDIR%/}
manifest=$DATADIR/denali/installed-files
config=$SYSCONFDIR/denali/denalid.conf

# The manifest: "dir PATH", "file PATH" and "config SHA256 PATH" lines, paths as installed (without DESTDIR).
entries=()
record() {
  local line IFS=' '
  for line in "${entries[@]}"; do [[ $line == "$*" ]] && return; done
  entries+=("$*")
}

# make_directory DIR: creates DIR and every missing parent (mode 0755), recording each one created.
make_directory() {
  local path="" part
  local IFS=/
  for part in $1; do
    [[ -z $part ]] && continue
    path+=/$part
    if [[ ! -d $DESTDIR$path ]]; then
      mkdir -m 0755 "$DESTDIR$path"
      record dir "$path"
    fi
  done
}

# put MODE SOURCE TARGET: installs SOURCE as TARGET (a full path) with MODE, creating its directory.
put() {
  make_directory "${3%/*}"
  install -m "$1" "$2" "$DESTDIR$3"
  record file "$3"
}

require() {
  local path
  for path; do
    [[ -e $path ]] || { echo "install: $path is missing: build first (make build docs, or make install without NO_BUILD)" >&2; exit 1; }
  done
}

install_all() {
  local binary=.build/$CONFIGURATION/denalid
  require "$binary" "$GENERATED/man/denalid.1" "$GENERATED/completions/denalid.bash" "$GUESTS_BUILD/hello.elf"
  [[ -n $DESTDIR ]] && mkdir -p "$DESTDIR"
  # A re-install keeps what the previous one recorded (its configuration in particular).
  if [[ $MANIFEST == yes && -f $DESTDIR$manifest ]]; then
    mapfile -t entries <"$DESTDIR$manifest"
  fi

  put 0755 "$binary" "$BINDIR/denalid"
  # The unit names the binary, the configuration and the documents: where they are installed.
  local unit
  unit=$(mktemp)
  sed -e "s|/usr/local/bin/denalid|$BINDIR/denalid|g" -e "s|/etc/denali/|$SYSCONFDIR/denali/|g" \
    -e "s|/usr/local/share/doc/denali/|$DOCDIR/|g" Config/denalid.service >"$unit"
  put 0644 "$unit" "$UNITDIR/denalid.service"
  rm -f "$unit"
  put 0644 Config/denali.sysusers "$SYSUSERSDIR/denali.conf"

  make_directory "$SYSCONFDIR/denali"
  if [[ -e $DESTDIR$config ]]; then
    echo "install: kept the existing $DESTDIR$config (the default is Config/denalid.conf)"
  else
    install -m 0644 Config/denalid.conf "$DESTDIR$config"
    record config "$(sha256sum <"$DESTDIR$config" | cut -d' ' -f1)" "$config"
  fi
  # The daemon's default image directory (image-dir in denalid.conf; the unit's StateDirectory is /var/lib/denali).
  make_directory /var/lib/denali/images

  local file
  for file in "$GUESTS_BUILD"/*.elf; do put 0644 "$file" "$GUESTDIR/${file##*/}"; done
  for file in README.md Docs/*.md Docs/openapi.yaml; do put 0644 "$file" "$DOCDIR/${file##*/}"; done
  for file in "$GENERATED"/man/*.1; do put 0644 "$file" "$MANDIR/man1/${file##*/}"; done
  put 0644 "$GENERATED/completions/denalid.bash" "$BASHCOMPDIR/denalid"
  put 0644 "$GENERATED/completions/_denalid" "$ZSHCOMPDIR/_denalid"
  put 0644 "$GENERATED/completions/denalid.fish" "$FISHCOMPDIR/denalid.fish"

  if [[ $MANIFEST == yes ]]; then
    make_directory "${manifest%/*}"
    printf '%s\n' "${entries[@]}" >"$DESTDIR$manifest"
    chmod 0644 "$DESTDIR$manifest"
  fi
  echo "install: installed denalid into ${DESTDIR:-/} (prefix $PREFIX)"
  if [[ -z $DESTDIR ]]; then
    # The daemon's user and group (the unit runs denalid as denali), as the Debian package's postinst does.
    if command -v systemd-sysusers >/dev/null; then
      systemd-sysusers "$SYSUSERSDIR/denali.conf"
      echo "install: created the denali user and group (systemd-sysusers $SYSUSERSDIR/denali.conf)"
    else
      echo "install: no systemd-sysusers: create the denali user and group yourself (useradd --system --user-group --home-dir /var/lib/denali --shell /usr/sbin/nologin denali)"
    fi
    echo "install: next: systemctl daemon-reload; systemctl enable --now denalid"
  fi
}

uninstall_all() {
  if [[ ! -f $DESTDIR$manifest ]]; then
    echo "install: no $DESTDIR$manifest: nothing was installed there by make install (same PREFIX and DESTDIR?)" >&2
    exit 1
  fi
  mapfile -t entries <"$DESTDIR$manifest"
  local line kind path sum directories=()
  for line in "${entries[@]}"; do
    kind=${line%% *}
    path=${line#* }
    case $kind in
      file) rm -f "$DESTDIR$path" ;;
      config)
        sum=${path%% *}
        path=${path#* }
        if [[ -f $DESTDIR$path && $(sha256sum <"$DESTDIR$path" | cut -d' ' -f1) != "$sum" ]]; then
          echo "install: kept $DESTDIR$path: it was changed after make install"
        else
          rm -f "$DESTDIR$path"
        fi
        ;;
      dir) directories+=("$path") ;;
      *) echo "install: ignoring a malformed manifest line: $line" >&2 ;;
    esac
  done
  rm -f "$DESTDIR$manifest"
  # Deepest first (most slashes first), each only if empty.
  local depth
  while read -r depth path; do
    path=$DESTDIR$path
    if [[ -d $path ]] && ! rmdir "$path" 2>/dev/null; then
      echo "install: kept $path: it holds files make install did not put there"
    fi
  done < <(for path in "${directories[@]}"; do
    depth=${path//[!\/]/}
    echo "${#depth} $path"
  done | sort -rn)
  echo "install: removed what make install had installed into ${DESTDIR:-/}"
}

case $action in
  install) install_all ;;
  uninstall) uninstall_all ;;
  *) echo "install: expected install or uninstall, got $action" >&2; exit 2 ;;
esac
