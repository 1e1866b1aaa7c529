#!/bin/bash
# t1300-import: regctl import from each kind of source. A Hades registry
# and a folder tree (with <tag>.sha256 checksum files, an executable, old
# mtimes, symbolic links), an OCI image layout that skopeo wrote from an
# image pushed to a Distribution registry, one written here (an index of two
# platforms, an untagged manifest, damaged blobs and manifests), and a local
# artifact index, artifacts.json and its legacy components.json (content
# under cachePath: a file, a folder of one file, an image layout). For each:
# --dry-run changes nothing (a dump of the catalog and the list of blobs are
# the same after it, and no store is made where there was none), a second
# run imports nothing, an item whose digest is not the one its source
# claims is skipped and named while the others are imported and the exit
# status is 1, and broken entries are reported. The manifest regctl serve
# serves for an imported image has the layout's digest. Usage errors exit 2.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd python3 sqlite3 curl
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

R() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# state STORE: what an import may change, as one hash: the catalog's rows,
# the blob files, the staging folder.
state() {
	{
		if [[ -e $1/catalog.db ]]; then
			sqlite3 -readonly "$1/catalog.db" .dump
		else
			echo "no catalog"
		fi
		find "$1" -path "$1/catalog.db*" -prune -o -printf '%P %y %s\n' 2>/dev/null | sort
	} | sha256sum | cut -d' ' -f1
}
# item STATUS REF: the line of an item in OUT.
has_line() { grep -qxF -- "$1" <<<"$OUT"; }
count_status() { grep -c "^$1 " <<<"$OUT" || :; }
mode_of() { R inspect --json "$1" | json_get 'd["mode"]'; }
mtime_of() { R inspect --json "$1" | json_get 'd["mtime"]'; }

# --- hades: PATH/<name>/<tag> --------------------------------------------------

H=$SRC/hades
mkdir -p "$H/app" "$H/org/tools" "$H/Bad" "$H/.git"
mkrand "$H/app/v1.0.0" 100K
chmod 0755 "$H/app/v1.0.0"
touch -d '2021-02-03 04:05:06.5 UTC' "$H/app/v1.0.0"
mkrand "$H/app/v1.1.0" 50K
sha256sum "$H/app/v1.1.0" | sed "s|$H/app/||" >"$H/app/v1.1.0.sha256"
mkrand "$H/app/v1.2.0" 20K
# A checksum file that names other content: the item must not come in.
printf '%s  v1.2.0\n' "$(sha "$H/app/v1.1.0")" >"$H/app/v1.2.0.sha256"
mkrand "$H/org/tools/2.0" 10K
printf 'x\n' >"$H/Bad/v1"               # not a repository name
printf 'x\n' >"$H/app/-v9"              # not a tag
printf '%s\n' "$(sha "$H/app/v1.1.0")" >"$H/app/v3.sha256" # its file is missing
ln -s nowhere "$H/app/v4"               # a dangling link
printf 'partial' >"$H/app/.v5.XXXXXX"   # a push's temporary: no artifact
printf 'ref: x\n' >"$H/.git/HEAD"       # a hidden folder: no artifact
printf 'read me\n' >"$H/README"         # not in a repository folder
v100=sha256:$(sha "$H/app/v1.0.0")
v110=sha256:$(sha "$H/app/v1.1.0")
v120=sha256:$(sha "$H/app/v1.2.0")
t20=sha256:$(sha "$H/org/tools/2.0")

expect_status 1 R import --from hades --dry-run "$H"
check "a dry run makes no store" test ! -e "$STORE/catalog.db"
expect_eq "$(find "$STORE" -mindepth 1 | wc -l)" 0 "... and nothing in its folder"
check "dry run: app:v1.0.0 would be imported" has_line "would import app:v1.0.0 $v100 (app/v1.0.0)"
check "dry run: org/tools:2.0 too" has_line "would import org/tools:2.0 $t20 (org/tools/2.0)"
expect_match "$OUT" "skipped app/v1.2.0: digest mismatch: app/v1.2.0.sha256 says $v110, the content is $v120" \
	"dry run: the mismatch is found and named"
expect_match "$OUT" "hades '$H' \(dry run, nothing changed\): 3 to import, 0 already present, 8 skipped \(5 failed\)" \
	"dry run: the summary"

expect_status 1 R import --from hades "$H"
hades_out=$OUT
check "app:v1.0.0 imported" has_line "imported app:v1.0.0 $v100 (app/v1.0.0)"
check "app:v1.1.0 imported, as its checksum file says" has_line "imported app:v1.1.0 $v110 (app/v1.1.0)"
check "org/tools:2.0 imported (a name with a folder)" has_line "imported org/tools:2.0 $t20 (org/tools/2.0)"
expect_match "$OUT" "skipped app/v1.2.0: digest mismatch: app/v1.2.0.sha256 says $v110, the content is $v120" \
	"the item whose digest does not match is skipped and named"
expect_match "$OUT" "skipped Bad/v1: invalid repository name 'Bad'" "a bad repository name is reported"
expect_match "$OUT" "skipped app/-v9: invalid tag '-v9'" "a bad tag is reported"
expect_match "$OUT" "skipped app/v3.sha256: a checksum file without its file 'v3'" "a checksum file alone"
expect_match "$OUT" "skipped app/v4: a symbolic link to nothing" "a dangling link"
expect_match "$OUT" "skipped app/.v5.XXXXXX: a hidden or temporary file" "a temporary is not an artifact"
expect_match "$OUT" "skipped .git: a hidden or temporary file" "nor a hidden folder"
expect_match "$OUT" "skipped README: not in a repository folder" "nor a file outside the layout"
expect_match "$OUT" "hades '$H': 3 imported, 0 already present, 8 skipped \(5 failed\)" "the summary"
expect_match "$OUT" "regctl: 5 items could not be imported" "exit 1 says why"
expect_ok R ls
expect_eq "$(tail -n +2 <<<"$OUT" | awk '{ print $1 ":" $2 }' | tr '\n' ' ')" \
	"app:v1.0.0 app:v1.1.0 org/tools:2.0 " "the good items, and only those"
check "the sealed bytes are the file's" cmp -s "$STORE/blobs/sha256/${v100#sha256:}" "$H/app/v1.0.0"
expect_eq "$(mode_of app:v1.0.0)" 0755 "an executable stays executable"
expect_eq "$(mode_of app:v1.1.0)" 0644 "another file is 0644"
expect_eq "$(mtime_of app:v1.0.0)" 2021-02-03T04:05:06.500000000Z "the mtime is kept"

before=$(state "$STORE")
expect_status 1 R import --from hades --dry-run "$H"
expect_match "$OUT" "3 already present" "a dry run on the store: the imported items are there"
expect_eq "$(state "$STORE")" "$before" "a dry run changes neither the catalog nor blobs/"
expect_status 1 R import --from hades "$H"
expect_match "$OUT" "hades '$H': nothing imported, 3 already present, 8 skipped \(5 failed\)" \
	"a second run imports nothing and says so"
check "it names what is present" has_line "present app:v1.0.0 $v100 (app/v1.0.0)"
expect_eq "$(state "$STORE")" "$before" "the second run changed nothing"

# Repaired, the source imports whole, and again imports nothing with 0.
rm -rf "$H/Bad" "$H/app/-v9" "$H/app/v3.sha256" "$H/app/v4" "$H/README"
sha256sum "$H/app/v1.2.0" | sed "s|$H/app/||" >"$H/app/v1.2.0.sha256"
expect_status 0 R import --from hades "$H"
check "the repaired item comes in" has_line "imported app:v1.2.0 $v120 (app/v1.2.0)"
expect_match "$OUT" "1 imported, 3 already present, 2 skipped$" "hidden entries are no failure"
expect_status 0 R import --from hades "$H"
expect_match "$OUT" "nothing imported, 4 already present" "and again: nothing"

# A tag that holds other content is not replaced.
mkdir -p "$SRC/h2/app"
mkrand "$SRC/h2/app/v1.0.0" 1K
expect_status 1 R import --from hades "$SRC/h2"
expect_match "$OUT" "skipped app/v1.0.0: tag 'app:v1.0.0' exists with other content \($v100\)" \
	"a tag holding other content is left alone"
check "and keeps its content" test "$(R inspect --json app:v1.0.0 | json_get 'd["digest"]')" = "$v100"

# --- tree: <repo>/<tag>, with --json ---------------------------------------------

T=$SRC/tree
mkdir -p "$T/team/svc/api" "$T/team/docs"
mkrand "$T/team/svc/api/1.0" 30K
ln -s 1.0 "$T/team/svc/api/stable"      # a link to a file: the same content
ln -s ../svc "$T/team/docs/svc"         # a link to a folder: not followed
mkrand "$T/team/docs/guide" 5K
touch -d '2019-01-01 00:00:00 UTC' "$T/team/docs/guide"
api=sha256:$(sha "$T/team/svc/api/1.0")
before=$(state "$STORE")
expect_status 0 R import --from tree --dry-run --json "$T"
expect_eq "$(json_get 'd["kind"], d["dry_run"], d["imported"], d["present"], d["skipped"], d["failed"]' <<<"$OUT")" \
	"('tree', True, 3, 0, 1, 0)" "--json: the summary of a dry run"
expect_eq "$(json_get '[(i["status"], i["repository"] + ":" + i["tag"]) for i in d["items"] if i["status"] != "skipped"]' <<<"$OUT")" \
	"[('would_import', 'team/docs:guide'), ('would_import', 'team/svc/api:1.0'), ('would_import', 'team/svc/api:stable')]" \
	"--json: the items"
expect_eq "$(json_get '[(i["source"], i["failed"], i["reason"]) for i in d["items"] if i["status"] == "skipped"]' <<<"$OUT")" \
	"[('team/docs/svc', False, 'a symbolic link to a folder: not followed')]" "--json: the skipped link"
expect_eq "$(state "$STORE")" "$before" "tree: the dry run changed nothing"
expect_status 0 R import --from tree --json "$T"
expect_eq "$(json_get 'd["imported"], [i["digest"] for i in d["items"] if i["tag"] == "stable"]' <<<"$OUT")" \
	"(3, ['$api'])" "tree: imported; the link has its target's digest"
expect_eq "$(mtime_of team/docs:guide)" 2019-01-01T00:00:00.000000000Z "tree: the mtime is kept"
expect_status 0 R import --from tree "$T"
expect_match "$OUT" "nothing imported, 3 already present, 1 skipped$" "tree: a second run imports nothing"

# --- oci: a layout written here ---------------------------------------------------

# mk_layout DIR: an OCI image layout of several images; prints a JSON
# object of their manifest digests by name.
mk_layout() {
	python3 - "$1" <<'PY'
import hashlib, json, os, sys
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
MAN, IDX = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open("%s/blobs/sha256/%s" % (out, h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
def desc(mt, b, **extra):
    d = {"mediaType": mt}
    d.update(b)
    d.update(extra)
    return d
empty = blob(b"{}")
def oras(content, title):
    layer = blob(content)
    m = {"schemaVersion": 2, "mediaType": MAN, "artifactType": "application/vnd.example.tool",
         "config": desc("application/vnd.oci.empty.v1+json", empty),
         "layers": [desc("application/vnd.oci.image.layer.v1.tar", layer,
                         annotations={"org.opencontainers.image.title": title})]}
    return blob(json.dumps(m, indent=1).encode()), layer
def image(arch, *contents):
    layers = [blob(c) for c in contents]
    cfg = blob(json.dumps({"architecture": arch, "os": "linux",
                           "rootfs": {"type": "layers",
                                      "diff_ids": [l["digest"] for l in layers]}}).encode())
    m = {"schemaVersion": 2, "mediaType": MAN,
         "config": desc("application/vnd.oci.image.config.v1+json", cfg),
         "layers": [desc("application/vnd.oci.image.layer.v1.tar", l) for l in layers]}
    return blob(json.dumps(m).encode()), layers
def ref(name):
    return {"org.opencontainers.image.ref.name": name} if name else {}
entries, digests = [], {}
def add(name, mt, b, key=None):
    entries.append(desc(mt, b, annotations=ref(name)) if name else desc(mt, b))
    digests[key or name] = b["digest"]
m, l = oras(b"tool v1\n", "tool"); add("v1", MAN, m); digests["v1-layer"] = l["digest"]
m, _ = image("amd64", os.urandom(4000), os.urandom(3000)); add("multi", MAN, m)
m, _ = oras(b"other\n", "other"); add("other/app:v2", MAN, m)
a, _ = image("amd64", b"amd64 payload\n")
b, _ = image("arm64", b"arm64 payload\n")
idx = {"schemaVersion": 2, "mediaType": IDX, "manifests": [
    desc(MAN, a, platform={"os": "linux", "architecture": "amd64"}),
    desc(MAN, b, platform={"os": "linux", "architecture": "arm64"})]}
add("all", IDX, blob(json.dumps(idx).encode()))
m, _ = oras(b"untagged\n", "x"); add(None, MAN, m, "untagged")
# Damage: a layer whose file holds other bytes, a manifest whose file
# holds other bytes, a layer missing, a broken descriptor.
m, l = oras(b"good bytes\n", "c"); add("corrupt-blob", MAN, m)
with open("%s/blobs/sha256/%s" % (out, l["digest"][7:]), "wb") as f:
    f.write(b"evil bytes\n")
m, _ = oras(b"manifest to damage\n", "d"); add("corrupt-manifest", MAN, m)
with open("%s/blobs/sha256/%s" % (out, m["digest"][7:]), "ab") as f:
    f.write(b" ")
m, l = oras(b"missing layer\n", "e"); add("missing-blob", MAN, m)
os.remove("%s/blobs/sha256/%s" % (out, l["digest"][7:]))
m, _ = oras(b"bad tag\n", "f"); add("-bad", MAN, m)
entries.append({"mediaType": MAN, "size": 3, "annotations": ref("nodigest")})
with open(out + "/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": IDX, "manifests": entries}, f)
print(json.dumps(digests))
PY
}

L=$SRC/tools
digests=$(mk_layout "$L")
dig() { json_get "d['$1']" <<<"$digests"; }
before=$(state "$STORE")
expect_status 1 R import --from oci --dry-run "$L"
expect_eq "$(state "$STORE")" "$before" "oci: the dry run changed nothing"
expect_match "$OUT" "oci '$L' \(dry run, nothing changed\): 4 to import, 0 already present, 6 skipped \(5 failed\)" \
	"oci: the dry run's summary"
expect_status 1 R import --from oci "$L"
check "a one-file artifact, to the layout folder's name" has_line "imported tools:v1 $(dig v1) (index.json manifests[0])"
check "a multi-layer image" has_line "imported tools:multi $(dig multi) (index.json manifests[1])"
check "a tag that names its repository" has_line "imported other/app:v2 $(dig other/app:v2) (index.json manifests[2])"
check "an index of two platforms" has_line "imported tools:all $(dig all) (index.json manifests[3])"
expect_match "$OUT" "skipped index.json manifests\[4\]: manifest $(dig untagged) has no org.opencontainers.image.ref.name" \
	"an untagged manifest is reported"
expect_match "$OUT" "skipped index.json manifests\[5\]: digest mismatch: blob sha256:[0-9a-f]{64} of the layout holds other content" \
	"a blob whose bytes are not its digest's: skipped and named"
expect_match "$OUT" "skipped index.json manifests\[6\]: size mismatch: manifest $(dig corrupt-manifest)" \
	"a damaged manifest"
expect_match "$OUT" "skipped index.json manifests\[7\]: blob sha256:[0-9a-f]{64} is not in the layout" "a missing blob"
expect_match "$OUT" "skipped index.json manifests\[8\]: invalid tag '-bad'" "a tag regfs cannot take"
expect_match "$OUT" "skipped index.json manifests\[9\]: a broken descriptor: no digest" "a broken descriptor"
expect_match "$OUT" "4 imported, 0 already present, 6 skipped \(5 failed\)" "oci: the summary"
expect_eq "$(R inspect --json tools:v1 | json_get 'd["digest"], d["artifact_type"]')" \
	"('$(dig v1-layer)', 'application/vnd.example.tool')" "a one-layer image is a file tag of its type"
check "corrupt-blob did not come in" test "$(R ls tools | grep -c corrupt || :)" = 0
before=$(state "$STORE")
expect_status 1 R import --from oci "$L"
expect_match "$OUT" "nothing imported, 4 already present, 6 skipped \(5 failed\)" "oci: a second run imports nothing"
expect_eq "$(state "$STORE")" "$before" "oci: and changes nothing"
rc=0
out=$(R import --from oci --repo mirror/tools --json "$L/../tools" 2>/dev/null) || rc=$?
expect_eq "$rc" 1 "--json: the exit status is the same"
expect_eq "$(json_get 'd["imported"], d["failed"]' <<<"$out")" "(4, 5)" "--json says how many failed"
expect_eq "$(json_get 'sorted(i["repository"] + ":" + i["tag"] for i in d["items"] if i["status"] == "imported")' <<<"$out")" \
	"['mirror/tools:all', 'mirror/tools:multi', 'mirror/tools:v1', 'mirror/tools:v2']" "--repo takes every image"

# --- oci: a layout skopeo wrote from Distribution ---------------------------------

if command -v docker-registry >/dev/null && command -v skopeo >/dev/null &&
	command -v openssl >/dev/null && command -v htpasswd >/dev/null; then
	# shellcheck source=registry.sh
	. "$(dirname "$0")/registry.sh"
	registry_start dist
	mkrand "$SRC/bin1" 64K
	mkrand "$SRC/bin2" 32K
	oci_push_image "$REGISTRY_DIST_URL" acme/app v1 "$SRC/bin1" "$SRC/bin2" >/dev/null
	oci_push_file "$REGISTRY_DIST_URL" acme/app v2 "$SRC/bin2" >/dev/null
	SK=$SRC/skopeo-layout
	# The digest of what skopeo wrote (it may recompress an image's
	# layers, so not always Distribution's).
	for t in v1 v2; do
		expect_ok "skopeo copies acme/app:$t into an OCI layout" -- skopeo copy --retry-times 0 \
			--src-tls-verify=false --digestfile "$SRC/digest-$t" \
			"docker://$REGISTRY_DIST_HOST/acme/app:$t" "oci:$SK:$t"
	done
	img=$(cat "$SRC/digest-v1")
	file_man=$(cat "$SRC/digest-v2")
	expect_eq "$file_man" "$(oci_manifest_digest "$REGISTRY_DIST_URL" acme/app v2)" \
		"skopeo kept the one-file artifact's manifest as Distribution has it"
	before=$(state "$STORE")
	expect_status 0 R import --from oci --dry-run --repo acme/app "$SK"
	expect_eq "$(state "$STORE")" "$before" "skopeo's layout: the dry run changed nothing"
	expect_match "$OUT" "2 to import, 0 already present, 0 skipped" "... and would import both"
	expect_status 0 R import --from oci --repo acme/app "$SK"
	check "the image keeps its manifest's digest" has_line "imported acme/app:v1 $img (index.json manifests[0])"
	check "so does the one-file artifact" has_line "imported acme/app:v2 $file_man (index.json manifests[1])"
	expect_status 0 R import --from oci --repo acme/app "$SK"
	expect_match "$OUT" "nothing imported, 2 already present, 0 skipped" "skopeo's layout: a second run imports nothing"
else
	diag "no docker-registry or skopeo: the layout skopeo writes is not tried"
fi

# --- index: artifacts.json --------------------------------------------------------

C=$SRC/cldctl
mkdir -p "$C/registry" "$C/cache/app" "$C/cache/dc" "$C/cache/tool" "$C/cache/many" "$C/cache/img"
mkrand "$C/cache/app/app.tgz" 40K
mkrand "$C/cache/dc/datacenter.yml" 2K
mkrand "$C/cache/tool/tool" 8K
chmod 0755 "$C/cache/tool/tool"
mkrand "$C/cache/many/a" 1K
mkrand "$C/cache/many/b" 1K
mkrand "$C/cache/wrong" 1K
cp -r "$L/." "$C/cache/img/"
app=sha256:$(sha "$C/cache/app/app.tgz")
dc=sha256:$(sha "$C/cache/dc/datacenter.yml")
tool=sha256:$(sha "$C/cache/tool/tool")
python3 - "$C" "$app" "$(dig v1)" <<'PY'
import json, os, sys
c, app, img = sys.argv[1], sys.argv[2], sys.argv[3]
def e(ref, typ, path, **kw):
    repo, tag = ref.rsplit(":", 1)
    d = {"reference": ref, "repository": repo, "tag": tag, "type": typ,
         "size": 0, "createdAt": "2024-05-06T07:08:09.25Z", "cachePath": path}
    d.update(kw)
    return d
arts = [
    e("ghcr.io/org/app:v1.0.0", "component", c + "/cache/app/app.tgz", digest=app,
      size=os.path.getsize(c + "/cache/app/app.tgz")),
    e("my-dc:latest", "datacenter", "../cache/dc"),
    e("ghcr.io/org/tool:1.0", "component", c + "/cache/tool/tool"),
    e("ghcr.io/org/img:v1", "component", c + "/cache/img", digest=img),
    e("ghcr.io/org/bad:v1", "component", c + "/cache/wrong", digest=app),
    e("ghcr.io/org/gone:v1", "component", c + "/cache/gone"),
    42,
    {"repository": 5, "tag": "v1", "cachePath": c + "/cache/wrong"},
    e("ghcr.io/Org/App:v1", "component", c + "/cache/wrong"),
    e("ghcr.io/org/many:v1", "component", c + "/cache/many"),
    e("ghcr.io/org/size:v1", "component", c + "/cache/wrong", size=5),
]
with open(c + "/registry/artifacts.json", "w") as f:
    json.dump({"version": "v2", "artifacts": arts}, f, indent=2)
PY
IX=$C/registry
before=$(state "$STORE")
expect_status 1 R import --from index --dry-run "$IX"
expect_eq "$(state "$STORE")" "$before" "index: the dry run changed nothing"
expect_match "$OUT" "index '$IX/artifacts.json' \(dry run, nothing changed\): 4 to import, 0 already present, 7 skipped \(7 failed\)" \
	"index: the dry run's summary names the index"
expect_status 1 R import --from index "$IX"
check "a file entry, its digest kept" has_line "imported ghcr.io/org/app:v1.0.0 $app (artifacts[0])"
check "a folder of one file, relative to the index" has_line "imported my-dc:latest $dc (artifacts[1])"
check "an executable" has_line "imported ghcr.io/org/tool:1.0 $tool (artifacts[2])"
check "an image layout under cachePath, its manifest's digest kept" has_line "imported ghcr.io/org/img:v1 $(dig v1) (artifacts[3])"
expect_match "$OUT" "skipped artifacts\[4\]: digest mismatch: artifacts\[4\] says $app, the content is sha256:" \
	"index: the entry whose content does not match is skipped and named"
expect_match "$OUT" "skipped artifacts\[5\]: its content is missing: no cachePath '$C/cache/gone'" "a missing cachePath"
expect_match "$OUT" "skipped artifacts\[6\]: a broken entry: not a JSON object" "an entry that is no object"
expect_match "$OUT" "skipped artifacts\[7\]: a broken entry: 'repository' is not a string" "a field of the wrong type"
expect_match "$OUT" "skipped artifacts\[8\]: invalid repository name 'ghcr.io/Org/App'" "a name regfs cannot take"
expect_match "$OUT" "skipped artifacts\[9\]: its cachePath '$C/cache/many' is a folder of several files" "a folder of several files"
expect_match "$OUT" "skipped artifacts\[10\]: size mismatch: artifacts\[10\] says 5 bytes, the file has 1024" "a size that is wrong"
expect_eq "$(R inspect --json ghcr.io/org/app:v1.0.0 | json_get 'd["artifact_type"], d["mtime"], d["mode"]')" \
	"('component', '2024-05-06T07:08:09.250000000Z', '0644')" "the entry's type and createdAt become the tag's"
expect_eq "$(R inspect --json my-dc:latest | json_get 'd["artifact_type"]')" datacenter "a datacenter"
expect_eq "$(mode_of ghcr.io/org/tool:1.0)" 0755 "index: an executable stays executable"
expect_ok R ls --type datacenter
expect_eq "$(tail -n +2 <<<"$OUT" | awk '{ print $1 ":" $2 }' | tr '\n' ' ')" "my-dc:latest " "ls --type lists by the index's type"
before=$(state "$STORE")
expect_status 1 R import --from index "$IX/artifacts.json"
expect_match "$OUT" "nothing imported, 4 already present, 7 skipped" "index: a second run (naming the file) imports nothing"
expect_eq "$(state "$STORE")" "$before" "index: and changes nothing"

# --- index: the legacy components.json ----------------------------------------------

G=$SRC/legacy
mkdir -p "$G/registry" "$G/cache"
mkrand "$G/cache/old.tgz" 3K
old=sha256:$(sha "$G/cache/old.tgz")
cat >"$G/registry/components.json" <<EOF
{"version": "v1", "components": [
  {"reference": "ghcr.io/org/old:v0.9", "repository": "ghcr.io/org/old", "tag": "v0.9",
   "digest": "$old", "source": "built", "size": 3072,
   "createdAt": "0001-01-01T00:00:00Z", "cachePath": "$G/cache/old.tgz"}
]}
EOF
touch -d '2018-08-08 08:08:08 UTC' "$G/cache/old.tgz"
before=$(state "$STORE")
expect_status 0 R import --from index --dry-run "$G/registry/artifacts.json"
expect_eq "$(state "$STORE")" "$before" "legacy: the dry run changed nothing"
expect_match "$OUT" "index '$G/registry/components.json' \(legacy: artifacts.json is missing\) \(dry run, nothing changed\): 1 to import" \
	"without artifacts.json, the legacy components.json is read"
expect_status 0 R import --from index --json "$G/registry"
expect_eq "$(json_get 'd["legacy"], d["index"], d["imported"]' <<<"$OUT")" \
	"(True, '$G/registry/components.json', 1)" "legacy: --json says so"
expect_eq "$(R inspect --json ghcr.io/org/old:v0.9 | json_get 'd["digest"], d["artifact_type"], d["mtime"]')" \
	"('$old', 'component', '2018-08-08T08:08:08.000000000Z')" \
	"a legacy entry is a component; Go's zero createdAt leaves the file's mtime"
expect_status 0 R import --from index "$G/registry"
expect_match "$OUT" "nothing imported, 1 already present, 0 skipped$" "legacy: a second run imports nothing"
# Once artifacts.json exists, components.json is not read.
printf '{"version": "v2", "artifacts": null}\n' >"$G/registry/artifacts.json"
expect_status 0 R import --from index "$G/registry"
expect_match "$OUT" "index '$G/registry/artifacts.json': nothing imported, 0 already present, 0 skipped" \
	"artifacts.json wins over components.json"
expect_status 0 R import --from index "$G/registry/components.json"
expect_match "$OUT" "index '$G/registry/artifacts.json': " "even when components.json is named"

# --- served: an imported image keeps the layout's digest ------------------------------

# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
serve_start main --store "$STORE"
if [[ -z ${REGISTRY_DIST_URL:-} ]]; then
	# registry.sh's helpers are not loaded: a HEAD with curl.
	oci_manifest_digest() {
		curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' \
			"$1/v2/$2/manifests/$3" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
	}
fi
for t in v1 multi all; do
	expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" tools "$t")" "$(dig "$t")" \
		"regctl serve serves tools:$t with the layout's digest"
done
expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" ghcr.io/org/img v1)" "$(dig v1)" \
	"and the image an index entry's cachePath held"
if [[ -n ${REGISTRY_DIST_URL:-} ]]; then
	expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" acme/app v1)" "$img" \
		"skopeo's layout: regctl serve serves the image with the digest skopeo wrote"
	expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" acme/app v2)" \
		"$(oci_manifest_digest "$REGISTRY_DIST_URL" acme/app v2)" "... and the artifact with Distribution's"
	registry_stop dist
fi
serve_stop main
expect_ok "fsck after all the imports" -- R fsck

# --- usage ----------------------------------------------------------------------

expect_status 2 R import "$H"
expect_match "$OUT" "--from KIND is required" "--from is required"
expect_status 2 R import --from svn "$H"
expect_status 2 R import --from hades
expect_status 2 R import --from hades "$H" extra
expect_status 2 R import --from tree --repo x "$T"
expect_status 1 R import --from tree "$SRC/nowhere"
expect_match "$OUT" "regctl: cannot import from tree '$SRC/nowhere': " "a missing source"
expect_status 1 R import --from oci "$H"
expect_match "$OUT" "is not an OCI image layout: it has no oci-layout" "a folder that is no layout"
expect_status 1 R import --from index "$H"
expect_match "$OUT" "no artifacts.json \(nor a legacy components.json\)" "a folder with no index"
printf '{not json' >"$SRC/bad.json"
expect_status 1 R import --from index "$SRC/bad.json"
expect_match "$OUT" "not JSON" "an index that is not JSON"
expect_status 0 R import --help

done_testing
