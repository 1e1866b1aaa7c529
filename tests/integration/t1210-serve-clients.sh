#!/bin/bash
# t1210-serve-clients: real clients against regctl serve, on loopback.
# skopeo copies a three-layer OCI image (an OCI layout written here) to the
# server and back, by tag and by digest, and every digest and byte is kept;
# so are an index of two platforms (copy --all) and the image as Docker's
# schema 2, which Go clients ask for with one Accept header a media type.
# A mount of the same store, while the server runs, shows the image as a
# folder of its layers plus manifest.json (the index as this platform's
# image, as a pull-through pin). A file published with cp into the mount's
# incoming/ (or regctl publish) is pulled by skopeo and regctl pull, under
# the digest regctl push gives it at a Distribution registry. regctl push
# from another store, pull into another one (a multi-layer image too), and
# cp between the server and Distribution (both ways, an image too) and
# within the server: the pushed tag is under registry/ of the mount at
# once, an executable still executable and as old. Auth: --htpasswd
# (anonymous pulls, by skopeo and podman too, which send an empty Basic
# login after the 401 of /v2/; a push needs a user: 401 with
# WWW-Authenticate: Basic; a wrong password 401; skopeo --dest-creds,
# regctl login), --access-rules (ci may push team/*, only release prod/*:
# 403 DENIED), --auth-pull (anonymous pulls 401). TLS with a throwaway CA:
# curl --cacert, skopeo and podman with a cert dir, refused without it.
# podman (vfs, its storage in the temp folder) runs when it is installed
# and works here; it pulls images only, never artifacts.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through expect_*
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

# A home of the test's own: regctl login and skopeo write there, and no
# credentials of the machine's are read.
export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg XDG_RUNTIME_DIR=$TEST_TMP/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
unset DOCKER_CONFIG REGFS_CREDENTIALS REGISTRY_AUTH_FILE

R() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
printed_digest() { awk '{ print $2 }' <<<"$1"; }
# epoch_of RFC3339: "SECONDS.NANOSECONDS", as stat -c %.9Y prints an mtime.
epoch_of() {
	python3 -c 'import calendar, sys, time
s = sys.argv[1]
print("%d.%s" % (calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")), s[20:29]))' "$1"
}
attrs_of() { "$REGCTL" --store "$1" inspect --json "$2" | json_get 'd["mode"], d["mtime"]'; }
# sk ARGS...: skopeo without retries (a failure must show at once).
sk() { skopeo "$1" --retry-times 0 "${@:2}"; }
# layout_digest DIR: the digest of the manifest an OCI layout's index names.
layout_digest() { json_get 'd["manifests"][0]["digest"]' <"$1/index.json"; }
# http_code ARGS...: curl's status for a request, the headers in $TEST_TMP/h.
http_code() {
	curl -s -o "$TEST_TMP/body" -D "$TEST_TMP/h" -w '%{http_code}' --max-time 20 "$@" || :
}
hdr() { _oci_header "$TEST_TMP/h" "$1"; }
err_code() { json_get 'd["errors"][0]["code"]' <"$TEST_TMP/body" 2>/dev/null || :; }
# names DIR: the names in a folder, sorted, on one line.
names() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '; }
# login_stdin PASSWORD USER HOST: regctl login, the password on stdin.
login_stdin() { printf '%s\n' "$1" | "$REGCTL" login --password-stdin --plain-http -u "$2" "$3"; }

# mk_layout DIR TAG: an OCI image layout of a linux/amd64 image, a config
# and three gzipped tar layers (two with a title, one without), tagged TAG;
# and an index of it and a linux/arm64 twin (the same layers), tagged
# multi. Prints the manifest digest, the three layer digests, the
# config's, the index's and the arm64 manifest's.
mk_layout() {
	python3 - "$1" "$2" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, tag = sys.argv[1], sys.argv[2]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open("%s/blobs/sha256/%s" % (out, h), "wb") as f:
        f.write(data)
    return "sha256:" + h
def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, 1700000000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
def gz(data):
    return gzip.compress(data, mtime=0)
layers = [
    (layer([("base/data.bin", os.urandom(300 * 1024), 0o644)]), "base.tar.gz"),
    (layer([("bin/hello", b"#!/bin/sh\necho hello from regfs\n", 0o755),
            ("app/data.bin", os.urandom(90 * 1024), 0o644)]), "app.tar.gz"),
    (layer([("etc/app.conf", os.urandom(8 * 1024), 0o644)]), None),
]
descs, diffs = [], []
for data, title in layers:
    z = gz(data)
    diffs.append("sha256:" + hashlib.sha256(data).hexdigest())
    d = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(z),
         "size": len(z)}
    if title:
        d["annotations"] = {"org.opencontainers.image.title": title}
    descs.append(d)
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Cmd": ["/bin/hello"]},
                     "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd = blob(config)
manifest = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cd, "size": len(config)},
                       "layers": descs}, indent=2).encode()
md = blob(manifest)
# The same layers for linux/arm64, and an index of both, tagged multi.
config2 = config.replace(b'"amd64"', b'"arm64"')
cd2 = blob(config2)
manifest2 = manifest.replace(cd.encode(), cd2.encode()).replace(
    b'"size": %d' % len(config), b'"size": %d' % len(config2))
md2 = blob(manifest2)
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [
                        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d,
                         "size": n, "platform": {"os": "linux", "architecture": a}}
                        for d, n, a in ((md, len(manifest), "amd64"),
                                        (md2, len(manifest2), "arm64"))]}).encode()
xd = blob(index)
with open(out + "/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
         "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}},
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd,
         "size": len(index), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, f)
print(md)
for d in descs:
    print(d["digest"])
print(cd)
print(xd)
print(md2)
PY
}

LAYOUT=$TEST_TMP/layout
mapfile -t IMG < <(mk_layout "$LAYOUT" v1)
M=${IMG[0]} L1=${IMG[1]} L2=${IMG[2]} L3=${IMG[3]} CFG=${IMG[4]} X=${IMG[5]} M2=${IMG[6]}
blob_of() { printf '%s/blobs/sha256/%s\n' "$LAYOUT" "${1#sha256:}"; }

registry_start dist
U=$REGISTRY_DIST_HOST
serve_start main --store "$STORE"
S=$SERVE_MAIN_HOST

# --- skopeo: a multi-layer image both ways --------------------------------------

expect_ok "skopeo copy of an OCI layout to the server" -- sk copy --dest-tls-verify=false \
	--digestfile "$TEST_TMP/pushed" "oci:$LAYOUT:v1" "docker://$S/img:v1"
expect_eq "$(cat "$TEST_TMP/pushed")" "$M" "skopeo pushed the layout's manifest as it is"
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" img v1)" "$M" \
	"skopeo inspect --raw: the manifest pushed, byte for byte"
expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" img v1)" "$M" "Docker-Content-Digest names it"
expect_ok "skopeo inspect (the config)" -- sk inspect --tls-verify=false "docker://$S/img:v1"
expect_eq "$(json_get 'd["Digest"], d["Layers"], d["Architecture"]' <<<"$OUT")" \
	"('$M', ['$L1', '$L2', '$L3'], 'amd64')" "its digest, layers and architecture"

expect_ok "skopeo copy back to another OCI layout" -- \
	sk copy --src-tls-verify=false "docker://$S/img:v1" "oci:$TEST_TMP/back:v1"
expect_eq "$(layout_digest "$TEST_TMP/back")" "$M" "the same manifest digest"
for d in "$M" "$CFG" "$L1" "$L2" "$L3"; do
	check "blob ${d:7:12} came back whole" cmp -s "$(blob_of "$d")" "$TEST_TMP/back/blobs/sha256/${d#sha256:}"
done
expect_ok "skopeo copy by digest" -- \
	sk copy --src-tls-verify=false "docker://$S/img@$M" "oci:$TEST_TMP/bydigest:v1"
expect_eq "$(layout_digest "$TEST_TMP/bydigest")" "$M" "the same digest"
expect_ok "skopeo list-tags" -- sk list-tags --tls-verify=false "docker://$S/img"
expect_eq "$(json_get 'd["Tags"]' <<<"$OUT")" "['v1']" "lists the tag"

# An index of two platforms, and the image as Docker's schema 2.
expect_ok "skopeo copy --all of an index" -- sk copy --all --dest-tls-verify=false \
	--digestfile "$TEST_TMP/pushed" "oci:$LAYOUT:multi" "docker://$S/multi:v1"
expect_eq "$(cat "$TEST_TMP/pushed")" "$X" "skopeo pushed the index as it is"
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" multi v1)" "$X" "the server serves the index"
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" multi "$M2")" "$M2" "and the arm64 manifest by digest"
expect_ok "skopeo copy --all back" -- \
	sk copy --all --src-tls-verify=false "docker://$S/multi:v1" "oci:$TEST_TMP/multi:v1"
expect_eq "$(layout_digest "$TEST_TMP/multi")" "$X" "the same index digest"
expect_ok "skopeo copy of the image as Docker schema 2" -- sk copy --format v2s2 --dest-tls-verify=false \
	--digestfile "$TEST_TMP/pushed" "oci:$LAYOUT:v1" "docker://$S/docker/img:v1"
DM=$(cat "$TEST_TMP/pushed")
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" docker/img v1)" "$DM" "served as pushed"
expect_eq "$(skopeo_manifest "$SERVE_MAIN_URL" docker/img v1 | json_get 'd["mediaType"]')" \
	application/vnd.docker.distribution.manifest.v2+json "a Docker manifest"
expect_eq "$(http_code -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"$SERVE_MAIN_URL/v2/docker/img/manifests/v1")/$(hdr content-type)/$(hdr docker-content-digest)" \
	"200/application/vnd.docker.distribution.manifest.v2+json/$DM" "HEAD: its media type and digest"
expect_ok "skopeo copy server → Distribution" -- sk copy --all --src-tls-verify=false --dest-tls-verify=false \
	"docker://$S/multi:v1" "docker://$U/multi:v1"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_DIST_URL" multi v1)" "$X" "Distribution has the index"

expect_ok "pushing the same image again" -- \
	sk copy --dest-tls-verify=false "oci:$LAYOUT:v1" "docker://$S/img:v1"
expect_ok "and under a second repository (the blobs are there)" -- \
	sk copy --dest-tls-verify=false "oci:$LAYOUT:v1" "docker://$S/team/img:v1"
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" team/img v1)" "$M" "the same digest there"

# --- a mount of the same store, while the server runs -------------------------------

regfs_mount "$STORE" "$MNT"
IMGDIR=$MNT/registry/img/v1
check "registry/img/v1 is a folder" test -d "$IMGDIR"
expect_eq "$(names "$IMGDIR")" "app.tar.gz base.tar.gz manifest.json $L3 " \
	"of the layers (by title, else by digest) and manifest.json"
check "base.tar.gz is layer 1" cmp -s "$IMGDIR/base.tar.gz" "$(blob_of "$L1")"
check "app.tar.gz is layer 2" cmp -s "$IMGDIR/app.tar.gz" "$(blob_of "$L2")"
check "the untitled layer is layer 3" cmp -s "$IMGDIR/$L3" "$(blob_of "$L3")"
check "manifest.json is the manifest pushed" cmp -s "$IMGDIR/manifest.json" "$(blob_of "$M")"
expect_ok "skopeo copy of another tag while the mount is up" -- \
	sk copy --dest-tls-verify=false "oci:$LAYOUT:v1" "docker://$S/img:v2"
check "it is in the mount at once" cmp -s "$MNT/registry/img/v2/base.tar.gz" "$(blob_of "$L1")"
expect_eq "$(names "$MNT/registry/multi/v1")" "app.tar.gz base.tar.gz manifest.json $L3 " \
	"the index: a folder of this machine's image (both platforms have these layers), as a pull-through pin shows it"
check "its layers" cmp -s "$MNT/registry/multi/v1/app.tar.gz" "$(blob_of "$L2")"
check "its manifest.json is the index the tag serves" \
	cmp -s "$MNT/registry/multi/v1/manifest.json" "$(blob_of "$X")"
check "the Docker manifest a folder too (no titles: layers by digest)" \
	cmp -s "$MNT/registry/docker/img/v1/$L1" "$(blob_of "$L1")"

# --- a file published with cp, pulled by skopeo and regctl -------------------------

mkrand "$SRC/data" 300K
F=sha256:$(sha "$SRC/data")
mkdir -p "$MNT/incoming/files/data"
expect_ok "cp into incoming/ publishes" -- cp "$SRC/data" "$MNT/incoming/files/data/v1"
expect_ok "skopeo copy of the published file" -- \
	sk copy --src-tls-verify=false "docker://$S/files/data:v1" "oci:$TEST_TMP/fdata:v1"
check "its one layer is the file" cmp -s "$SRC/data" "$TEST_TMP/fdata/blobs/sha256/${F#sha256:}"
FD=$(layout_digest "$TEST_TMP/fdata")
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" files/data v1)" "$FD" "skopeo: the manifest's digest"
expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" files/data v1)" "$FD" "the server's Docker-Content-Digest"
S2=$TEST_TMP/store2
expect_ok "regctl pull from the server into another store" -- \
	"$REGCTL" --store "$S2" pull --plain-http "$S/files/data:v1" got/data:v1
expect_match "$OUT" "got/data:v1 $F" "pull names the content's digest"
check "the pulled blob is the file" cmp -s "$SRC/data" "$S2/blobs/sha256/${F#sha256:}"
expect_ok "regctl push of the tag to Distribution" -- R push --plain-http files/data:v1 "$U/files/data:v1"
expect_eq "$(printed_digest "$OUT")" "$FD" "push builds the manifest the server serves (same digest)"
expect_eq "$(oci_manifest_digest "$REGISTRY_DIST_URL" files/data v1)" "$FD" "Distribution names it so too"
expect_eq "$(skopeo_manifest "$REGISTRY_DIST_URL" files/data v1 | sha256sum)" \
	"$(skopeo_manifest "$SERVE_MAIN_URL" files/data v1 | sha256sum)" "the same bytes"

mkrand "$SRC/data2" 20K
expect_ok "regctl publish" -- R publish "$SRC/data2" files/data:v2
expect_ok "regctl push of it to Distribution" -- R push --plain-http files/data:v2 "$U/files/data:v2"
D2=$(printed_digest "$OUT")
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" files/data v2)" "$D2" \
	"a tag published with regctl publish: served with push's digest"
expect_ok "skopeo copy of it" -- \
	sk copy --src-tls-verify=false "docker://$S/files/data:v2" "oci:$TEST_TMP/fdata2:v2"
check "its layer is the file" cmp -s "$SRC/data2" "$TEST_TMP/fdata2/blobs/sha256/$(sha "$SRC/data2")"

# --- regctl push, pull and cp --------------------------------------------------------

S3=$TEST_TMP/store3
printf '#!/bin/sh\necho tool-ok\n' >"$SRC/tool"
chmod 0755 "$SRC/tool"
T=sha256:$(sha "$SRC/tool")
expect_ok "publish an executable in another store" -- "$REGCTL" --store "$S3" publish --init "$SRC/tool" tools/tool:v1
read -r TMODE TMTIME < <(attrs_of "$S3" tools/tool:v1 | tr -d "(),'")
expect_eq "$TMODE" 0755 "it is 0755 there"
expect_ok "regctl push to the server" -- "$REGCTL" --store "$S3" push --plain-http tools/tool:v1 "$S/tools/tool:v1"
TD=$(printed_digest "$OUT")
expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" tools/tool v1)" "$TD" "the server names the digest push printed"
TOOL=$MNT/registry/tools/tool/v1
check "the pushed tag is in the mount at once" test -f "$TOOL"
check "with the content" cmp -s "$SRC/tool" "$TOOL"
expect_eq "$(stat -c '%a %.9Y' "$TOOL" 2>&1)" "755 $(epoch_of "$TMTIME")" \
	"executable (0755) and as old as where it was published"
expect_eq "$("$TOOL" 2>&1)" tool-ok "it runs from the mount"
expect_ok "pushing it again" -- "$REGCTL" --store "$S3" push --plain-http tools/tool:v1 "$S/tools/tool:v1"
expect_eq "$(printed_digest "$OUT")" "$TD" "changes nothing"

S4=$TEST_TMP/store4
expect_ok "regctl pull of it into a fresh store" -- \
	"$REGCTL" --store "$S4" pull --plain-http "$S/tools/tool:v1" tools/tool:v1
expect_match "$OUT" "tools/tool:v1 $T" "pull names the content's digest"
expect_eq "$(attrs_of "$S4" tools/tool:v1)" "('0755', '$TMTIME')" "the mode and mtime came along"
check "the bytes too" cmp -s "$SRC/tool" "$S4/blobs/sha256/${T#sha256:}"

expect_ok "regctl cp server → Distribution" -- R cp --plain-http "$S/tools/tool:v1" "$U/tools/tool:v1"
expect_eq "$(printed_digest "$OUT")" "$TD" "cp prints the same digest"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_DIST_URL" tools/tool v1)" "$TD" "Distribution has it (skopeo)"
expect_ok "regctl cp server → server (promotion)" -- R cp --plain-http "$S/tools/tool:v1" "$S/prod/tool:v1"
expect_eq "$(printed_digest "$OUT")" "$TD" "the same digest"
check "in the mount at once" cmp -s "$SRC/tool" "$MNT/registry/prod/tool/v1"
expect_eq "$(stat -c '%a %.9Y' "$MNT/registry/prod/tool/v1" 2>&1)" "755 $(epoch_of "$TMTIME")" \
	"executable and as old"

mkrand "$SRC/l1" 30K
mkrand "$SRC/l2" 40K
ID=$(oci_push_image "$REGISTRY_DIST_URL" team/img2 v1 "$SRC/l1" "$SRC/l2")
expect_ok "regctl cp of an image Distribution → server" -- R cp --plain-http "$U/team/img2:v1" "$S/team/img2:v1"
expect_eq "$(printed_digest "$OUT")" "$ID" "cp prints the image's digest"
expect_eq "$(skopeo_manifest_digest "$SERVE_MAIN_URL" team/img2 v1)" "$ID" "the server serves it as it was"
check "a folder in the mount at once" cmp -s "$SRC/l2" "$MNT/registry/team/img2/v1/l2"
expect_ok "and back: server → Distribution" -- R cp --plain-http "$S/img:v1" "$U/img:v1"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_DIST_URL" img v1)" "$M" "the skopeo-pushed image, digest kept"

# --- podman -------------------------------------------------------------------------

# Its own storage (vfs), configuration and temp folder under the test's.
# It pulls images, not artifacts: a published file (an empty config) is
# refused on its side ("unsupported image-specific operation on artifact").
PODMAN=0
if command -v podman >/dev/null 2>&1; then
	P=$TEST_TMP/podman
	mkdir -p "$P/root" "$P/run" "$P/tmp"
	pm() {
		TMPDIR=$P/tmp CONTAINERS_REGISTRIES_CONF=/dev/null podman --root "$P/root" --runroot "$P/run" \
			--storage-driver vfs --events-backend none --cgroup-manager cgroupfs "$@"
	}
	if pm info >"$P/info.txt" 2>&1; then
		PODMAN=1
		expect_ok "podman pull from the server (vfs)" -- pm pull --tls-verify=false "$S/img:v1"
		expect_eq "$(pm image inspect --format '{{.Digest}}' "$S/img:v1" 2>&1)" "$M" "podman has the digest"
	else
		diag "podman does not run here:"
		diag_file "$P/info.txt" 5
	fi
fi

# --- authentication and access rules --------------------------------------------------

SA=$TEST_TMP/store-auth
HTP=$TEST_TMP/htpasswd
htpasswd -bcB "$HTP" ci ci-pass 2>/dev/null
htpasswd -bB "$HTP" release rel-pass 2>/dev/null
printf '%s\n' 'push prod/*  release' 'push team/*  ci release' >"$TEST_TMP/rules"
serve_start auth --store "$SA" --htpasswd "$HTP" --access-rules "$TEST_TMP/rules"
A=$SERVE_AUTH_HOST
AU=$SERVE_AUTH_URL

expect_ok "skopeo copy --dest-creds ci to team/" -- \
	sk copy --dest-tls-verify=false --dest-creds ci:ci-pass "oci:$LAYOUT:v1" "docker://$A/team/img:v1"
expect_eq "$(skopeo_manifest_digest "$AU" team/img v1)" "$M" "an anonymous pull (skopeo) gets it"
expect_eq "$(http_code -H "Accept: $OCI_MANIFEST_TYPES" "$AU/v2/team/img/manifests/v1")" 200 "anonymous GET of the manifest: 200"
if ((PODMAN)); then
	expect_ok "an anonymous podman pull" -- pm pull --tls-verify=false "$A/team/img:v1"
fi
expect_eq "$(http_code -X POST "$AU/v2/team/new/blobs/uploads/")" 401 "an anonymous push: 401"
expect_match "$(hdr www-authenticate)" '^Basic realm=' "with WWW-Authenticate: Basic"
expect_eq "$(err_code)" UNAUTHORIZED "and UNAUTHORIZED"
expect_fail "skopeo copy without credentials is refused" -- \
	sk copy --dest-tls-verify=false "oci:$LAYOUT:v1" "docker://$A/team/anon:v1"
expect_eq "$(http_code -u ci:wrong "$AU/v2/")" 401 "a wrong password: 401"
expect_eq "$(http_code -u ci:wrong -H "Accept: $OCI_MANIFEST_TYPES" "$AU/v2/team/img/manifests/v1")" 401 \
	"even for a pull"
expect_fail "skopeo copy with a wrong password is refused" -- \
	sk copy --dest-tls-verify=false --dest-creds ci:wrong "oci:$LAYOUT:v1" "docker://$A/team/bad:v1"
expect_eq "$(http_code -u ci:ci-pass -X POST "$AU/v2/prod/x/blobs/uploads/")" 403 "ci pushing to prod/x: 403"
expect_eq "$(err_code)" DENIED "DENIED"
expect_fail "skopeo copy as ci to prod/x is refused" -- \
	sk copy --dest-tls-verify=false --dest-creds ci:ci-pass "oci:$LAYOUT:v1" "docker://$A/prod/x:v1"
expect_match "$OUT" "denied|DENIED|403" "and says it was denied"
expect_ok "skopeo copy as release to prod/x" -- \
	sk copy --dest-tls-verify=false --dest-creds release:rel-pass "oci:$LAYOUT:v1" "docker://$A/prod/x:v1"
expect_eq "$(skopeo_manifest_digest "$AU" prod/x v1)" "$M" "it is there"

expect_status 1 R push --plain-http files/data:v1 "$A/team/data:v1"
expect_match "$OUT" "401" "regctl push before login: 401"
expect_status 1 login_stdin wrong ci "$A"
expect_ok "regctl login as ci" -- login_stdin ci-pass ci "$A"
expect_ok "regctl push as ci to team/" -- R push --plain-http files/data:v1 "$A/team/data:v1"
expect_eq "$(printed_digest "$OUT")" "$FD" "the digest the other server gives it"
expect_status 1 R push --plain-http files/data:v1 "$A/prod/data:v1"
expect_match "$OUT" "403|denied|DENIED" "regctl push as ci to prod/: refused (403)"
expect_ok "regctl pull of the image from the auth server (logged in)" -- \
	timeout 60 "$REGCTL" --store "$S2" pull --plain-http "$A/prod/x:v1"
expect_eq "$OUT" "prod/x:v1 $M" "pull names the manifest's digest"
for d in "$L1" "$L2" "$L3"; do
	check "layer ${d:7:12} fetched and whole" cmp -s "$(blob_of "$d")" "$S2/blobs/sha256/${d#sha256:}"
done
serve_stop auth

serve_start authpull --store "$SA" --htpasswd "$HTP" --access-rules "$TEST_TMP/rules" --auth-pull
AP=$SERVE_AUTHPULL_URL
expect_eq "$(http_code -H "Accept: $OCI_MANIFEST_TYPES" "$AP/v2/team/img/manifests/v1")" 401 \
	"--auth-pull: an anonymous pull is 401"
expect_match "$(hdr www-authenticate)" '^Basic realm=' "with WWW-Authenticate: Basic"
expect_eq "$(http_code "$AP/v2/team/img/blobs/$L1")" 401 "a blob too"
expect_fail "skopeo inspect without credentials is refused" -- \
	sk inspect --tls-verify=false --raw "docker://$SERVE_AUTHPULL_HOST/team/img:v1"
expect_eq "$(skopeo_manifest_digest "$AP" team/img v1 --creds ci:ci-pass)" "$M" "with credentials it pulls"
serve_stop authpull

# --- TLS ------------------------------------------------------------------------------

_reg_make_tls "$TEST_TMP/tls" serve
mkdir -p "$TEST_TMP/certs"
cp "$TEST_TMP/tls/ca.crt" "$TEST_TMP/certs/ca.crt"
serve_start tls --store "$STORE" --tls-cert "$TEST_TMP/tls/server.crt" --tls-key "$TEST_TMP/tls/server.key"
TU=$SERVE_TLS_URL
TH=$SERVE_TLS_HOST
expect_match "$TU" '^https://' "the server speaks https"
expect_eq "$(http_code --cacert "$TEST_TMP/tls/ca.crt" "$TU/v2/")" 200 "curl --cacert the CA: 200"
run_cmd curl -sS -o /dev/null --max-time 10 "$TU/v2/"
expect_eq "$RC" 60 "curl without the CA refuses the certificate"
expect_eq "$(sk inspect --cert-dir "$TEST_TMP/certs" --raw "docker://$TH/img:v1" | sha256sum | cut -c1-64)" \
	"${M#sha256:}" "skopeo inspect with the CA in --cert-dir"
expect_fail "skopeo inspect without it (--tls-verify) refuses" -- \
	sk inspect --tls-verify=true --raw "docker://$TH/img:v1"
expect_ok "skopeo copy from it with --src-cert-dir" -- \
	sk copy --src-cert-dir "$TEST_TMP/certs" "docker://$TH/img:v1" "oci:$TEST_TMP/tlsback:v1"
expect_eq "$(layout_digest "$TEST_TMP/tlsback")" "$M" "the same digest"
expect_ok "skopeo copy to it with --dest-cert-dir" -- \
	sk copy --dest-cert-dir "$TEST_TMP/certs" "oci:$LAYOUT:v1" "docker://$TH/tls/img:v1"
expect_eq "$(oci_manifest_digest "$SERVE_MAIN_URL" tls/img v1)" "$M" "the plain server of the store serves it"
if ((PODMAN)); then
	expect_ok "podman pull over TLS with the CA in --cert-dir" -- \
		pm pull --cert-dir "$TEST_TMP/certs" "$TH/tls/img:v1"
fi
serve_stop tls

regfs_umount "$MNT"
serve_stop main
expect_eq "$SERVE_RC" 0 "the server exits 0 on SIGTERM"

done_testing
