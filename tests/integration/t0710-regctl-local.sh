#!/bin/bash
# t0710-regctl-local: regctl's commands on the local store, beside a mount:
# publish with annotations and an artifact type (getfattr shows them on
# registry/ files; setfattr on an incoming file before it is sealed sets
# them too); search by repository, tag, annotation key and value, any case,
# with --type and --json; yank and unyank (hidden from regctl ls, from the
# registry/ folder and from search, still read by name); rm only with
# --force and never of a pinned tag; gc (--dry-run, then the unreferenced
# blob is gone, open files read on, fsck clean); gc run again and again
# while 30 tags are published through the mount and regctl publish: every
# tag reads back whole and fsck is clean. publish keeps FILE's executable
# bit (regctl inspect, and the mount's registry/ file).
# shellcheck source-path=SCRIPTDIR disable=SC2010,SC2016,SC2317 # ls as users use it; a literal $1 for bash -c; helpers called through wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
require_cmd getfattr setfattr

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# found QUERY [OPTIONS...]: "repo:tag ..." that regctl search --json lists.
found() {
	R search --json "$@" | json_get '" ".join(t["repository"] + ":" + t["tag"] for t in d)'
}
listed() { R ls --json | json_get '" ".join(t["repository"] + ":" + t["tag"] for t in d)'; }
dir_has() { [[ -e $1/$2 ]] && grep -qx -- "$2" <<<"$(ls -1 "$1")"; }
dir_lacks() { ! grep -qx -- "$2" <<<"$(ls -1 "$1")"; }
stat_ok() { stat -- "$1" >/dev/null 2>&1; }
blobs() { count_files "$STORE/blobs/sha256"; }

mkrand "$SRC/widget" 10K
mkrand "$SRC/gadget1" 10K
mkrand "$SRC/gadget2" 12K
mkrand "$SRC/tool" 8K
mkrand "$SRC/scratch" 20K

# --- usage -------------------------------------------------------------------

for cmd in publish search yank unyank rm gc; do
	expect_status 0 R "$cmd" --help
	expect_match "$OUT" "^usage: .*regctl $cmd" "regctl $cmd --help prints its usage"
done
expect_status 2 R publish --annotation novalue "$SRC/widget" widget:v1
expect_match "$OUT" "an annotation is KEY=VALUE" "an annotation without '=' is a usage error"
expect_status 2 R publish --sha256 xyz "$SRC/widget" widget:v1
expect_status 2 R publish "$SRC/widget"
expect_status 2 R search
expect_status 2 R search a b
expect_status 2 R yank
expect_status 2 R rm
expect_status 2 R gc extra

# --- publish with annotations ------------------------------------------------------

expect_ok R publish --annotation 'description=Fast Widget' --annotation author=Alice \
	--artifact-type application/x-widget "$SRC/widget" widget:v1
expect_eq "$OUT" "widget:v1 sha256:$(sha "$SRC/widget")" "publish prints the tag and its digest"
expect_status 1 R publish "$SRC/gadget1" widget:v1
expect_match "$OUT" "^regctl: cannot publish .* as 'widget:v1': " "publishing onto an existing tag fails"
expect_status 1 R publish --sha256 "$(sha "$SRC/gadget1")" "$SRC/widget" widget:bad
expect_eq "$(R ls --json | json_get '[t["tag"] for t in d]')" "['v1']" "a digest mismatch publishes nothing"
expect_ok "publish from standard input" -- \
	bash -c '"$1" --store "$2" publish --annotation source=https://Example.com/tool - tool:v1 <"$3"' _ \
	"$REGCTL" "$STORE" "$SRC/tool"

# Started before anything of the mount is held open (fd 6 below), so that
# it holds nothing of it.
registry_start up
mkrand "$SRC/remote" 6K
oci_push_file "$REGISTRY_UP_URL" team/lib v1 "$SRC/remote" >/dev/null

regfs_mount "$STORE" "$MNT"
W=$MNT/registry/widget/v1
expect_eq "$(xattr "$W" user.regfs.annotation.description)" "Fast Widget" "getfattr shows the description"
expect_eq "$(xattr "$W" user.regfs.annotation.author)" "Alice" "and the author"
expect_eq "$(xattr "$W" user.regfs.artifact_type)" application/x-widget "and the artifact type"
expect_eq "$(xattr "$MNT/registry/tool/v1" user.regfs.annotation.source)" https://Example.com/tool \
	"annotations of a publish from stdin"
expect_match "$(getfattr --absolute-names -d -m - "$W")" "user\.regfs\.annotation\.author=\"Alice\"" \
	"getfattr -d lists them"

# Annotations set on an incoming file before it is sealed: on a temporary
# renamed onto its tag, and on a file held open while it is written.
mkdir -p "$MNT/incoming/gadget"
cp "$SRC/gadget1" "$MNT/incoming/gadget/.v1.tmp"
expect_ok setfattr -n user.regfs.annotation.description -v "Shiny Gadget" "$MNT/incoming/gadget/.v1.tmp"
expect_ok setfattr -n user.regfs.artifact_type -v application/x-gadget "$MNT/incoming/gadget/.v1.tmp"
expect_errno ENOTSUP setxattr "$MNT/incoming/gadget/.v1.tmp" user.other x
expect_ok "rename seals it" -- mv "$MNT/incoming/gadget/.v1.tmp" "$MNT/incoming/gadget/v1"
exec 5>"$MNT/incoming/gadget/v2"
expect_ok setfattr -n user.regfs.annotation.author -v Bob "$MNT/incoming/gadget/v2"
cat "$SRC/gadget2" >&5
exec 5>&-
wait_until 5 test -e "$MNT/registry/gadget/v2" || :
expect_eq "$(sha "$MNT/registry/gadget/v1")" "$(sha "$SRC/gadget1")" "gadget/v1 sealed whole"
expect_eq "$(xattr "$MNT/registry/gadget/v1" user.regfs.annotation.description)" "Shiny Gadget" \
	"the annotation set before the rename is on the sealed tag"
expect_eq "$(xattr "$MNT/registry/gadget/v1" user.regfs.artifact_type)" application/x-gadget \
	"so is the artifact type"
expect_eq "$(sha "$MNT/registry/gadget/v2")" "$(sha "$SRC/gadget2")" "gadget/v2 sealed whole"
expect_eq "$(xattr "$MNT/registry/gadget/v2" user.regfs.annotation.author)" Bob \
	"the annotation set while it was open is on the sealed tag"
expect_errno EROFS\|EPERM\|EACCES setxattr "$MNT/registry/gadget/v2" user.regfs.annotation.author Eve

# --- search --------------------------------------------------------------------------

expect_eq "$(found widget)" "widget:v1" "search matches a repository"
expect_eq "$(found v2)" "gadget:v2" "a tag"
expect_eq "$(found shiny)" "gadget:v1" "an annotation's value, in any case"
expect_eq "$(found AUTHOR)" "gadget:v2 widget:v1" "an annotation's key, in any case"
expect_eq "$(found example.COM)" "tool:v1" "part of a value"
expect_eq "$(found gadget --type application/x-gadget)" "gadget:v1" "--type keeps that artifact type"
expect_eq "$(found widget --type application/x-gadget)" "" "and nothing else"
expect_eq "$(found nothing-like-it)" "" "no match: an empty array"
expect_eq "$(R ls --type application/x-gadget --json | json_get '[t["repository"] + ":" + t["tag"] for t in d]')" \
	"['gadget:v1']" "ls --type lists only that artifact type"
expect_status 0 R search gadget
expect_eq "$(awk 'NR > 1 { print $1 ":" $2 }' <<<"$OUT" | tr '\n' ' ')" "gadget:v1 gadget:v2 " \
	"the table lists the matches as regctl ls does"
expect_match "$OUT" "^REPOSITORY +TAG +DIGEST +SIZE +CREATED" "under ls's header"
expect_eq "$(R search --json widget | json_get '[(t["repository"], t["tag"], t["digest"], t["size"], t["artifact_type"], t["yanked"]) for t in d]')" \
	"[('widget', 'v1', 'sha256:$(sha "$SRC/widget")', 10240, 'application/x-widget', False)]" \
	"search --json: repository, tag, digest, size, artifact type, yanked"

# --- yank and unyank -----------------------------------------------------------------

expect_ok R yank widget:v1
expect_eq "$OUT" "yanked 'widget:v1'" "yank says what it did"
expect_eq "$(listed)" "gadget:v1 gadget:v2 tool:v1" "a yanked tag is not in regctl ls"
check "nor in ls of its registry/ folder" wait_until 3 dir_lacks "$MNT/registry/widget" v1
expect_eq "$(found widget)" "" "nor found by search"
expect_eq "$(found widget --all)" "widget:v1" "search --all finds it"
expect_eq "$(sha "$W")" "$(sha "$SRC/widget")" "cat by its exact name still reads it"
expect_eq "$(xattr "$W" user.regfs.yanked 2>&1)" true "it shows user.regfs.yanked"
expect_match "$(R ls --all)" "widget +v1 \(yanked\) +sha256:" "ls --all shows it, marked (yanked)"
expect_ok R unyank widget:v1
expect_eq "$OUT" "unyanked 'widget:v1'" "unyank says what it did"
expect_eq "$(listed)" "gadget:v1 gadget:v2 tool:v1 widget:v1" "unyanked, it is listed again"
check "and in its registry/ folder" wait_until 3 dir_has "$MNT/registry/widget" v1
expect_eq "$(found widget)" "widget:v1" "and found again"
expect_status 1 R yank widget:v9
expect_eq "$OUT" "regctl: no such tag 'widget:v9'" "yanking a missing tag: a clear message"
expect_ok R yank --reason "CVE-2026-0001: bad TLS" widget:v1
expect_match "$(R inspect widget:v1)" "yanked: +yes, by $(id -un) at [0-9T:-]+Z: CVE-2026-0001: bad TLS" \
	"inspect shows who yanked it, when and why"
expect_eq "$(R inspect widget:v1 --json | json_get 'd["yank"]["by"], d["yank"]["reason"]')" \
	"('$(id -un)', 'CVE-2026-0001: bad TLS')" "inspect --json too"
expect_ok R unyank widget:v1
check "unyank forgets the record" sh -c '! "$1" --store "$2" inspect widget:v1 | grep -q yanked' _ "$REGCTL" "$STORE"
expect_status 2 R unyank --reason why widget:v1

# --- rm --------------------------------------------------------------------------------

expect_ok R publish "$SRC/scratch" scratch:v1
X=sha256:$(sha "$SRC/scratch")
expect_status 1 R rm scratch:v1
expect_match "$OUT" "^regctl: not removing 'scratch:v1' without --force" "rm without --force refuses"
check "and removes nothing" test -e "$MNT/registry/scratch/v1"
exec 6<"$MNT/registry/scratch/v1"
expect_ok R rm --force scratch:v1
expect_eq "$OUT" "removed 'scratch:v1'" "rm --force removes a local tag"
expect_eq "$(listed)" "gadget:v1 gadget:v2 tool:v1 widget:v1" "it is gone from regctl ls"
check "and from its registry/ folder" wait_until 3 dir_lacks "$MNT/registry/scratch" v1
# The name was looked up before (test -e, and fd 6): within a second the
# mount stops answering stat() and open() for it too.
check "stat of its name fails too" wait_until 3 _lib_not stat_ok "$MNT/registry/scratch/v1"
expect_errno ENOENT open "$MNT/registry/scratch/v1" r
expect_status 1 R rm --force scratch:v1
expect_eq "$OUT" "regctl: no such tag 'scratch:v1'" "removing it again: a clear message"

# A tag pinned from an upstream is not ours to remove.
expect_ok R pull --plain-http "$REGISTRY_UP_HOST/team/lib:v1"
expect_status 1 R rm --force team/lib:v1
expect_match "$OUT" "^regctl: 'team/lib:v1' is pinned from upstream '$REGISTRY_UP_HOST', not a local tag" \
	"rm of a pinned tag refuses"
expect_eq "$(R inspect --json team/lib:v1 | json_get 'd["digest"]')" "sha256:$(sha "$SRC/remote")" "it stays"

# --- gc --------------------------------------------------------------------------------

n=$(blobs)
expect_ok R gc --dry-run
expect_match "$OUT" "(^|"$'\n'")would remove $X \(20480 bytes\)" "gc --dry-run names the blob no tag needs"
expect_match "$OUT" "would free 1 blobs, 20480 bytes$" "and what would be freed"
expect_eq "$(blobs)" "$n" "and removes nothing"
expect_ok R gc
expect_match "$OUT" "(^|"$'\n'")removed $X \(20480 bytes\)" "gc removes it"
expect_match "$OUT" "freed 1 blobs, 20480 bytes$" "and says what it freed"
expect_eq "$(blobs)" "$((n - 1))" "one blob file fewer"
check "that one" test ! -e "$STORE/blobs/sha256/${X#sha256:}"
expect_eq "$(sha256sum <&6 | awk '{ print $1 }')" "${X#sha256:}" "a file open on the removed tag reads on, whole"
exec 6<&-
for t in widget/v1:widget gadget/v1:gadget1 gadget/v2:gadget2; do
	expect_eq "$(sha "$MNT/registry/${t%%:*}")" "$(sha "$SRC/${t#*:}")" "${t%%:*} still reads right"
done
expect_eq "$(R gc | tail -n 1)" "freed 0 blobs, 0 bytes" "a second gc finds nothing"
expect_status 0 R fsck
expect_match "$OUT" "0 missing, 0 corrupt, 0 orphans" "fsck is clean after gc"

# --- gc while publishing -----------------------------------------------------------------

# Odd tags through the mount (cp into incoming/), even ones through regctl
# publish; regctl gc runs again and again meanwhile.
for i in $(seq 1 30); do mkrand "$SRC/load$i" 64K; done
mkdir -p "$MNT/incoming/load"
(
	for i in $(seq 1 30); do
		if ((i % 2)); then
			cp "$SRC/load$i" "$MNT/incoming/load/v$i" || exit 1
		else
			"$REGCTL" --store "$STORE" publish "$SRC/load$i" "load:v$i" >/dev/null || exit 1
		fi
	done
) &
pub=$!
track_pid "$pub"
gcs=0 gc_failed=0
while proc_alive "$pub" || ((gcs < 5)); do
	R gc >>"$TEST_TMP/gc.out" 2>&1 || gc_failed=$((gc_failed + 1))
	gcs=$((gcs + 1))
done
reap "$pub"
expect_eq "$REAP_RC" 0 "30 publishes while gc ran (gc ran $gcs times)"
expect_eq "$gc_failed" 0 "every gc succeeded"
bad=0
for i in $(seq 1 30); do
	if [[ $(sha "$MNT/registry/load/v$i" 2>/dev/null) != "$(sha "$SRC/load$i")" ]]; then
		bad=$((bad + 1))
		diag "load/v$i does not read back right"
	fi
done
expect_eq "$bad" 0 "every tag published during gc reads back whole, through the mount"
expect_eq "$(R ls --json load | json_get 'len(d)')" 30 "regctl ls lists all 30"
expect_status 0 R fsck
expect_match "$OUT" "0 missing, 0 corrupt, 0 orphans" "fsck is clean"
check "no blob of a load tag was ever removed" _lib_not grep -q "^removed" "$TEST_TMP/gc.out"

# --- publish keeps the executable bit -------------------------------------------------------

mode_of_tag() { R inspect --json "$1" | json_get 'd["mode"]'; }
printf '#!/bin/sh\necho modes-ok\n' >"$SRC/run"
for m in 0755:0755 0700:0755 0711:0755 4755:0755 0600:0644 0644:0644 0444:0644; do
	chmod "${m%%:*}" "$SRC/run"
	expect_ok R publish "$SRC/run" "modes:v${m%%:*}"
	expect_eq "$(mode_of_tag "modes:v${m%%:*}")" "${m#*:}" "publish of a ${m%%:*} file: a ${m#*:} tag"
done
expect_eq "$(mode_of_tag widget:v1)" 0644 "(widget:v1 came from a 0644 file: 0644)"
chmod 0755 "$SRC/run"
expect_ok "publish from standard input" -- \
	bash -c '"$1" --store "$2" publish - modes:stdin <"$3"' _ "$REGCTL" "$STORE" "$SRC/run"
expect_eq "$(mode_of_tag modes:stdin)" 0644 "from standard input: 0644, whatever the file behind it"
# The mount shows a tag's mode (these need that part of regfs).
expect_eq "$(stat -c %a "$MNT/registry/modes/v0755" 2>&1)" 755 "under registry/ the executable tag is 0755"
expect_eq "$(stat -c %a "$MNT/registry/modes/v4755" 2>&1)" 755 "without set-id bits"
expect_eq "$(stat -c %a "$MNT/registry/modes/v0600" 2>&1)" 644 "the others 0644"
expect_ok "and it runs from there" -- "$MNT/registry/modes/v0711"
expect_eq "$OUT" modes-ok "(it is the script)"

regfs_umount "$MNT"
done_testing
