# Re-pack a real `.pak` with one lie, recomputing every digest so that only the check
# under test stands in the way. Usage: forge.py SRC DST OPTIONS_JSON
#
# options (all optional):
#   id, name, version   the config's paks.id / name / version, and the matching manifest
#                       annotations; `id` also moves the layer's entries under the new id
#   config_id           the config's paks.id only (disagreeing with the layer and annotations)
#   annotation_id       the manifest's io.paks.package.id only
#   add_file: [rel, n]  a file of n zero bytes added to the prefix
#   diff_id             the config's rootfs.diff_ids[0]
#   media_type          the manifest's layer media type
#   size                the config's paks.size (the claimed unpacked size)
#   paks: {...}         fields merged into the config's paks object, last
#   annotations: {...}  entries merged into the manifest's annotations (`io.paks.target`)
import gzip, hashlib, io, json, sys, tarfile

src, dst, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
outer = tarfile.open(src)
files = {m.name: outer.extractfile(m).read() for m in outer.getmembers() if m.isfile()}
index = json.loads(files["index.json"])
mdig = index["manifests"][0]["digest"].split(":")[1]
manifest = json.loads(files["blobs/sha256/" + mdig])
ldig = manifest["layers"][0]["digest"].split(":")[1]
config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
old_id = config["paks"]["id"]
new_id = opts.get("id", old_id)
layer = gzip.decompress(files["blobs/sha256/" + ldig])
inner = tarfile.open(fileobj=io.BytesIO(layer))
buf = io.BytesIO()
out = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
prefix = None
for m in inner.getmembers():
    data = inner.extractfile(m) if m.isfile() else None
    m.name = m.name.replace(old_id, new_id)
    if m.islnk():
        m.linkname = m.linkname.replace(old_id, new_id)
    out.addfile(m, data)
    if m.isdir() and m.name.rstrip("/").endswith(new_id):
        prefix = m.name.rstrip("/")
if "add_file" in opts:
    rel, n = opts["add_file"]
    info = tarfile.TarInfo(prefix + "/" + rel)
    info.size = n
    out.addfile(info, io.BytesIO(b"\0" * n))
out.close()
raw = buf.getvalue()
gz = gzip.compress(raw, mtime=0)
config["rootfs"]["diff_ids"] = [opts.get("diff_id", "sha256:" + hashlib.sha256(raw).hexdigest())]
ann = manifest.setdefault("annotations", {})
config["paks"]["id"] = new_id
ann["io.paks.package.id"] = new_id
if "name" in opts:
    config["paks"]["name"] = opts["name"]
    ann["org.opencontainers.image.title"] = opts["name"]
if "version" in opts:
    config["paks"]["version"] = opts["version"]
    ann["org.opencontainers.image.version"] = opts["version"]
if "config_id" in opts:
    config["paks"]["id"] = opts["config_id"]
if "annotation_id" in opts:
    ann["io.paks.package.id"] = opts["annotation_id"]
if "size" in opts:
    config["paks"]["size"] = opts["size"]
config["paks"].update(opts.get("paks", {}))
ann.update(opts.get("annotations", {}))
cbytes = json.dumps(config).encode()
manifest["config"]["digest"] = "sha256:" + hashlib.sha256(cbytes).hexdigest()
manifest["config"]["size"] = len(cbytes)
manifest["layers"][0]["digest"] = "sha256:" + hashlib.sha256(gz).hexdigest()
manifest["layers"][0]["size"] = len(gz)
if "media_type" in opts:
    manifest["layers"][0]["mediaType"] = opts["media_type"]
mbytes = json.dumps(manifest).encode()
index["manifests"][0]["digest"] = "sha256:" + hashlib.sha256(mbytes).hexdigest()
index["manifests"][0]["size"] = len(mbytes)
blobs = {"oci-layout": files["oci-layout"], "index.json": json.dumps(index).encode(),
         "blobs/sha256/" + hashlib.sha256(mbytes).hexdigest(): mbytes,
         "blobs/sha256/" + hashlib.sha256(cbytes).hexdigest(): cbytes,
         "blobs/sha256/" + hashlib.sha256(gz).hexdigest(): gz}
with tarfile.open(dst, "w") as t:
    for name, data in blobs.items():
        info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
