#!/usr/bin/env bash
# scripts/generate-docs.sh CONFIGURATION OUT: the man pages and shell completions of denalid, generated from its
# argument parser (never written by hand), for `make docs` (and so make install, make deb).
#   OUT/man/denalid.1, denalid-spawn.1, denalid-bench-boot.1, ...: swift-argument-parser's generate-manual plugin,
#     one page per command (renamed from its denalid.spawn.1 to the denalid-spawn.1 of git and friends);
#   OUT/completions/denalid.bash, _denalid, denalid.fish: `denalid --generate-completion-script SHELL`.
# The pages are dated by the commit (SOURCE_DATE_EPOCH if set), so that the same commit gives the same pages.
set -euo pipefail
cd "$(dirname "$0")/.."
configuration=${1:?usage: generate-docs.sh CONFIGURATION OUT}
out=${2:?usage: generate-docs.sh CONFIGURATION OUT}
swift=${SWIFT:-swift}

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)

# The plugin builds the package in this configuration (nothing to do after `swift build -c CONFIGURATION`), then
# runs its generate-manual tool on every executable that uses ArgumentParser, denalid among them.
pages=.build/plugins/GenerateManual/outputs/denalid
rm -rf "$pages" # no page of a command that is gone survives
"$swift" package generate-manual --configuration "$configuration" --multi-page --date "$date" \
  --authors "Denali on KVM developers" >/dev/null
[[ -f $pages/denalid.1 ]] || { echo "generate-docs: the plugin wrote no $pages/denalid.1" >&2; exit 1; }

rm -rf "$out/man" "$out/completions"
mkdir -p "$out/man" "$out/completions"
for page in "$pages"/denalid*.1; do
  name=${page##*/}
  name=${name%.1}
  # denalid.bench.boot -> denalid-bench-boot in the file name, the title (.Dt) and the cross-references (.Xr), and
  # in the NAME section, which whatis and apropos read; the synopsis keeps the command as typed: denali-bench boot.
  # An empty line (between a discussion's paragraphs) becomes mdoc's paragraph break, .Pp.
  sed -E -e '/^\.(Dt|Xr) /s/([[:alnum:]])\.([[:alpha:]])/\1-\2/g' -e 's/^$/.Pp/' "$page" |
    awk -v dashed="${name//./-}" -v spaced="${name//./ }" '
      /^\.Sh / { section = $0 }
      section == ".Sh NAME" && /^\.Nm / { print ".Nm " dashed; next }
      section == ".Sh SYNOPSIS" && $0 == ".Nm" { print ".Nm \"" spaced "\""; next }
      { print }' >"$out/man/${name//./-}.1"
done

denalid=.build/$configuration/denalid
# Completion scripts are sourced, not run: the bash one loses its #! line.
"$denalid" --generate-completion-script bash | sed '1{/^#!/d}' >"$out/completions/denalid.bash"
"$denalid" --generate-completion-script zsh >"$out/completions/_denalid"
"$denalid" --generate-completion-script fish >"$out/completions/denalid.fish"
echo "generate-docs: $(ls "$out/man" | wc -l) man pages and 3 completion scripts in $out"
