#!/bin/sh
# Install or uninstall the single-file envtools under a prefix.
#
# usage: install.sh [--prefix P] [--destdir D] [--from DIR] [--uninstall]
#
# Takes the output of packaging/build-pyz (DIR: this script's directory
# when envtools.pyz is beside it, else dist/ of the repository) and puts:
#
#   P/lib/envtools/envtools.pyz                   the archive
#   P/bin/COMMAND                                 a launcher per command
#   P/share/man/man1/*.1, P/share/man/man8/*.8    the man pages
#   P/share/bash-completion/completions/COMMAND   bash completion
#   P/share/zsh/site-functions/_COMMAND           zsh completion
#   P/share/fish/vendor_completions.d/COMMAND.fish
#   P/lib/envtools/installed                      what was installed
#
# The last file lists every file and every directory the install created,
# relative to P, so a list written while staging holds once moved;
# --uninstall removes exactly those (directories only when empty).  Every
# target is checked before anything is touched; an install that fails
# midway removes what it had created, and the previous install with it.  With
# --destdir D (or $DESTDIR) everything goes under D/P, for staging into an
# image or a package; the launchers find the archive relative to
# themselves, so they work there and once moved.  A launcher is a short
# script with the archive's own interpreter line: a symlink to the archive
# works too, but Python runs a zip file through runpy, which costs about
# 40% more start-up (see docs/DESIGN.md).
# Exit status: 0 done, 1 failed, 2 usage.
set -eu

prog=install.sh
commands="setuser save-container-env container-env with-container-env"
prefix=/usr/local
destdir=${DESTDIR:-}
from=
action=install

die() {
	printf '%s: %s\n' "$prog" "$1" >&2
	exit 1
}

usage() {
	printf '%s: %s\n' "$prog" "$1" >&2
	printf "Try '%s --help'.\n" "$prog" >&2
	exit 2
}

need() {
	[ $# -ge 2 ] || usage "option '$1' needs a value"
}

while [ $# -gt 0 ]; do
	case $1 in
	--prefix) need "$@"; prefix=$2; shift 2 ;;
	--destdir) need "$@"; destdir=$2; shift 2 ;;
	--from) need "$@"; from=$2; shift 2 ;;
	--uninstall) action=uninstall; shift ;;
	-h | --help) sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) usage "unknown argument '$1'" ;;
	esac
done

case $prefix in
/*) ;;
*) usage "prefix '$prefix' is not an absolute path" ;;
esac
prefix=${prefix%/}
root=$destdir$prefix
manifest=lib/envtools/installed

# Create each missing directory on the way to $1, recording it.
make_dir() {
	rel=
	for part in $(printf '%s' "$1" | tr '/' ' '); do
		rel=${rel:+$rel/}$part
		if [ ! -d "$root/$rel" ]; then
			mkdir -m 0755 "$root/$rel"
			created="$created d $rel"
		fi
	done
}

# Refuse to replace a file that another package or the administrator owns;
# one the previous install listed is ours to replace.
check_free() {
	if [ -f "$root/$manifest" ] && grep -qxF "f $1" "$root/$manifest"; then
		return
	fi
	if [ -e "$root/$1" ] || [ -L "$root/$1" ]; then
		die "'$root/$1' exists and was not installed by $prog"
	fi
}

# On a failed install, remove what it created (newest first, so each
# directory is empty by its turn): a retry then starts clean, instead of
# finding files no manifest lists.
rollback() {
	[ $? -ne 0 ] || return 0
	# The old install's manifest went with it: one here is this run's.
	rm -f "$root/$manifest"
	undo=
	set -f -- $created
	while [ $# -ge 2 ]; do
		undo="$1 $2 $undo"
		shift 2
	done
	set -- $undo
	while [ $# -ge 2 ]; do
		if [ "$1" = f ]; then
			rm -f "$root/$2"
		else
			rmdir "$root/$2" 2>/dev/null || true
		fi
		shift 2
	done
}

# Each file is recorded before it is written: one that fails half-written
# is rolled back too.
put() { # put MODE SOURCE RELATIVE-TARGET
	make_dir "${3%/*}"
	created="$created f $3"
	install -m "$1" "$2" "$root/$3"
}

# A launcher finds the archive from where it really is (links resolved),
# as P/bin/../lib/envtools/envtools.pyz; a broken install is one line on
# stderr with the command's own failure status, not a traceback.
launcher() { # launcher RELATIVE-TARGET COMMAND
	case $2 in
	setuser | with-container-env) status=125 ;;
	*) status=1 ;;
	esac
	make_dir "${1%/*}"
	created="$created f $1"
	{
		printf '%s\n' "$interpreter"
		sed -e "s/COMMAND/$2/g" -e "s/STATUS/$status/" <<-'EOF'
	# COMMAND from the single-file envtools, written by install.sh.
	import os
	import sys
	top = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
	archive = os.path.join(top, "lib/envtools/envtools.pyz")
	sys.path.insert(0, archive)
	try:
	    import envtools_boot
	except ImportError:
	    sys.stderr.write(f"COMMAND: cannot load envtools from '{archive}'\n")
	    sys.exit(STATUS)
	envtools_boot.run("COMMAND")
	EOF
	} >"$root/$1"
	chmod 0755 "$root/$1"
}

# Every file the install writes: mode (or "link"), path relative to the
# prefix, then the source last, so that it may contain spaces.
plan() {
	echo "0755 lib/envtools/envtools.pyz $from/envtools.pyz"
	fish=share/fish/vendor_completions.d
	for name in $commands; do
		echo "launcher bin/$name $name"
		echo "0644 share/bash-completion/completions/$name $from/completion/bash/$name"
		echo "0644 share/zsh/site-functions/_$name $from/completion/zsh/_$name"
		echo "0644 $fish/$name.fish $from/completion/fish/$name.fish"
	done
	for page in "$from"/man/*.1 "$from"/man/*.8; do
		[ -f "$page" ] || continue
		echo "0644 share/man/man${page##*.}/${page##*/} $page"
	done
}

do_uninstall() {
	[ -f "$root/$manifest" ] || die "no envtools install found under '$root'"
	# Files first, then the directories the install created, deepest first.
	dirs=$(sed -n 's/^d //p' "$root/$manifest" | sort -r)
	sed -n 's/^f //p' "$root/$manifest" | while read -r rel; do
		rm -f "$root/$rel"
	done
	rm -f "$root/$manifest"
	for rel in $dirs; do
		rmdir "$root/$rel" 2>/dev/null || true
	done
}

do_install() {
	if [ -z "$from" ]; then
		from=$(dirname "$0")
		[ -f "$from/envtools.pyz" ] || from=$(dirname "$0")/../dist
	fi
	[ -f "$from/envtools.pyz" ] || die "no envtools.pyz in '$from': run build-pyz first"
	interpreter=$(head -n 1 "$from/envtools.pyz")
	case $interpreter in
	"#!/"*) ;;
	*) die "'$from/envtools.pyz' does not start with an interpreter line" ;;
	esac
	mkdir -p "$root"

	steps=$(plan)
	while read -r mode target source; do
		check_free "$target"
	done <<-EOF
	$steps
	EOF
	# A previous install of ours is replaced as a whole.
	if [ -f "$root/$manifest" ]; then
		do_uninstall
	fi

	created=
	# A signal ends the shell without running the EXIT trap: exit instead.
	trap rollback EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	while read -r mode target source; do
		if [ "$mode" = launcher ]; then
			launcher "$target" "$source"
		else
			put "$mode" "$source" "$target"
		fi
	done <<-EOF
	$steps
	EOF
	printf '%s %s\n' $created >"$root/$manifest"
	trap - EXIT HUP INT TERM
}

do_$action
