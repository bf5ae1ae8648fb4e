#!/usr/bin/env bash
# scripts/git-commit.sh: prints the commit the work tree is at (12 hex digits), with "-dirty" when tracked files
# differ from it; prints nothing where there is no git or no repository (a source tarball). For the Makefile.
commit=$(git rev-parse --verify --quiet HEAD 2>/dev/null) || exit 0
[[ $commit =~ ^[0-9a-f]{40,64}$ ]] || exit 0
if [[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  echo "${commit:0:12}"
else
  echo "${commit:0:12}-dirty"
fi
