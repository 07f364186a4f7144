"""Independent weights key (src/io/weights-key.ts) of safetensors files: /usr/bin/python3 test/io/weights_key.py FILE...
SHA-256 over the tensors sorted by name: JSON [name, dtype, shape] then the bytes; first 16 hex digits."""
import hashlib, json, struct, sys
for p in sys.argv[1:]:
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); data = b[8+n:]
    s = hashlib.sha256()
    for k in sorted(x for x in h if x != '__metadata__'):
        e = h[k]; s.update(json.dumps([k, e['dtype'], e['shape']], separators=(',', ':')).encode()); s.update(data[e['data_offsets'][0]:e['data_offsets'][1]])
    print(p, s.hexdigest()[:16])
