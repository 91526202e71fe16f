"""The MicroPython snippets the link sends for file operations, and the parsing of their answers.

Kept apart from the protocol code in `link.py` so the device side can be read (and checked
against small ports such as the ESP8266) in one place. Every snippet only uses modules every
MicroPython port has (os, binascii, hashlib) and cleans up the names it defines, because raw
REPL execs share the globals of the user's session.
"""

from __future__ import annotations

import ast
import base64
import hashlib
from dataclasses import dataclass

# 4 KB per exec: base64 makes ~5.5 KB of source, which the raw-paste window streams safely;
# ESP8266-class heaps cope with that, and the per-exec round trip becomes a small share of
# the time even at 115200 baud (mpremote sends 256 bytes per exec, ~11 ms each on a UART).
WRITE_CHUNK = 4096
READ_CHUNK = 1536  # bytes per b2a_base64 line on the board; bounded by the board's RAM, not ours


@dataclass(frozen=True)
class FileInfo:
    """One directory entry on the board."""

    name: str
    size: int
    is_dir: bool


def q(path: str) -> str:
    """Quote a path as a MicroPython string literal (repr is valid MicroPython syntax)."""
    return repr(str(path))


def write_open(path: str) -> str:
    return f"import binascii\n_iotkit_f=open({q(path)},'wb')\n"


def write_chunk(data: bytes) -> str:
    # a2b_base64 accepts bytes; one literal per exec keeps the board's peak memory to ~3x chunk.
    return f"_iotkit_f.write(binascii.a2b_base64({base64.b64encode(data)!r}))\n"


def write_close(path: str) -> str:
    """Close, then print the size so the host can check nothing was lost on the way."""
    return "_iotkit_f.close()\ndel _iotkit_f\nimport os\n" f"print(os.stat({q(path)})[6])\n"


WRITE_ABORT = "try:\n _iotkit_f.close()\nexcept Exception:\n pass\n"


def read_file(path: str) -> str:
    return (
        "import binascii,sys\n"
        f"with open({q(path)},'rb') as _iotkit_f:\n"
        f" _iotkit_b=bytearray({READ_CHUNK})\n"
        " while True:\n"
        "  _iotkit_n=_iotkit_f.readinto(_iotkit_b)\n"
        "  if not _iotkit_n:\n"
        "   break\n"
        "  sys.stdout.write(binascii.b2a_base64(memoryview(_iotkit_b)[:_iotkit_n]))\n"
        "del _iotkit_f,_iotkit_b,_iotkit_n\n"
    )


def parse_read(out: bytes) -> bytes:
    # The board may turn "\n" into "\r\n"; base64 ignores neither, so strip both per line.
    return b"".join(base64.b64decode(line.strip()) for line in out.split(b"\n") if line.strip())


def listdir(path: str) -> str:
    # ilistdir gives (name, type, inode[, size]); older ports omit the size, so stat for it.
    return (
        "import os\n"
        "def _iotkit_l(p):\n"
        " r=[]\n"
        " for e in os.ilistdir(p):\n"
        "  d=e[1]&0x4000!=0\n"
        "  if d:\n"
        "   s=0\n"
        "  elif len(e)>3 and e[3]>=0:\n"
        "   s=e[3]\n"
        "  else:\n"
        "   s=os.stat(p.rstrip('/')+'/'+e[0])[6]\n"
        "  r.append((e[0],s,d))\n"
        " return r\n"
        f"print(repr(_iotkit_l({q(path)})))\n"
        "del _iotkit_l\n"
    )


def parse_listdir(out: bytes) -> list[FileInfo]:
    entries = ast.literal_eval(out.decode().strip())
    return sorted((FileInfo(str(n), int(s), bool(d)) for n, s, d in entries), key=lambda i: i.name)


def stat(path: str) -> str:
    return (
        "import os\n"
        "try:\n"
        f" _iotkit_s=os.stat({q(path)})\n"
        " print(repr((_iotkit_s[0]&0x4000!=0,_iotkit_s[6])))\n"
        " del _iotkit_s\n"
        "except OSError:\n"
        " print(None)\n"
    )


def parse_stat(path: str, out: bytes) -> FileInfo | None:
    value = ast.literal_eval(out.decode().strip())
    if value is None:
        return None
    is_dir, size = value
    name = path.rstrip("/").rsplit("/", 1)[-1] or "/"
    return FileInfo(name, 0 if is_dir else int(size), bool(is_dir))


def remove(path: str) -> str:
    return f"import os\nos.remove({q(path)})\n"


def rmdir(path: str) -> str:
    return f"import os\nos.rmdir({q(path)})\n"


def mkdir(path: str, exist_ok: bool) -> str:
    """Create the directory and its missing parents, like os.makedirs, on the board."""
    return (
        "import os\n"
        "def _iotkit_m(p,ok):\n"
        " q=''\n"
        " parts=[x for x in p.split('/') if x]\n"
        " for i,x in enumerate(parts):\n"
        "  q+='/'+x if (q or p.startswith('/')) else x\n"
        "  try:\n"
        "   os.mkdir(q)\n"
        "  except OSError as e:\n"
        "   if e.args[0]!=17:\n"
        "    raise\n"
        "   if os.stat(q)[0]&0x4000==0 or (i==len(parts)-1 and not ok):\n"
        "    raise\n"
        f"_iotkit_m({q(path)},{bool(exist_ok)})\n"
        "del _iotkit_m\n"
    )


# The one way the snippets hash a board file: streamed 512 bytes at a time, so a big file needs
# no more RAM than a small one. Returns (digest bytes, size); an OSError is the caller's to handle.
SHA_FN = """\
def _iotkit_sha(p):
 h=hashlib.sha256()
 b=bytearray(512)
 n=0
 with open(p,'rb') as f:
  while True:
   k=f.readinto(b)
   if not k:
    break
   h.update(memoryview(b)[:k])
   n+=k
 return h.digest(),n
"""


def hash_many(paths: list[str]) -> str:
    return (
        "import hashlib,binascii\n" + SHA_FN + "def _iotkit_h(p):\n"
        " try:\n"
        "  return binascii.hexlify(_iotkit_sha(p)[0]).decode()\n"
        " except OSError:\n"
        "  return None\n"
        f"print(repr([_iotkit_h(p) for p in {[str(p) for p in paths]!r}]))\n"
        "del _iotkit_h,_iotkit_sha\n"
    )


def parse_hash_many(paths: list[str], out: bytes) -> dict[str, str | None]:
    values = ast.literal_eval(out.decode().strip())
    return dict(zip([str(p) for p in paths], values))


# ---------------------------------------------------------------------------------------------
# Deploy: one survey exec, then transfers that never leave a half-written file in place.
#
# Every file goes to "<dest>.iotkit-tmp" (or, compressed and bigger than one chunk, first to a
# "<dest>.iotkit-z" spool that is then inflated into the temp file), its SHA-256 and size are
# checked on the board, and only then is it renamed onto the destination. rename() replaces the
# destination in one step on LittleFS and on the virtual board; FAT refuses to rename onto an
# existing file, so there the verified temp is first renamed to "<dest>.iotkit-new" (a name that
# says "complete and checked"), the old file removed, and the new one renamed into place. A cut
# in that window leaves only the ".iotkit-new", which the next deploy's sweep renames into place.

TMP_SUFFIX = ".iotkit-tmp"
SPOOL_SUFFIX = ".iotkit-z"
NEW_SUFFIX = ".iotkit-new"
# What the deploys put on the board: {path: first 16 hex digits of its SHA-256}. A board file
# whose hash is not there was made or edited by someone else, and a template deploy keeps a copy
# of it in BACKUP_DIR before replacing it.
RECORD_PATH = "/.iotkit/deployed.json"
RECORD_HASH = 16
BACKUP_DIR = "/iotkit-backup"
# The deploy names a file's content by its SHA-256 in base64 without the "=" padding: all 256
# bits in 43 characters instead of 64 hex digits, which keeps the survey's answer short.
DIGEST_CHARS = 43


def digest(data: bytes) -> str:
    """SHA-256 as the deploy snippets write it on the board (see DIGEST_CHARS)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()[:DIGEST_CHARS]


_SURVEY = "import os,sys,gc,hashlib,binascii\n" + SHA_FN + """\
def _iotkit_h(p):
 try:
  if os.stat(p)[0]&0x4000:
   return 'dir'
  d,n=_iotkit_sha(p)
  x=binascii.b2a_base64(d)[:%(chars)d].decode()
  return (x,n,int(_iotkit_d.get(p)==x[:%(hashlen)d]))
 except OSError:
  return None
def _iotkit_k(p):
 try:
  return 1 if os.stat(p)[0]&0x4000 else 2
 except OSError:
  return 0
def _iotkit_s(d,out):
 for e in list(os.ilistdir(d)):
  n=e[0]
  p=d.rstrip('/')+'/'+n
  if e[1]&0x4000:
   _iotkit_s(p,out)
  elif n.endswith('%(tmp)s') or n.endswith('%(spool)s'):
   os.remove(p)
   out.append(p)
  elif n.endswith('%(new)s'):
   t=p[:-%(newlen)d]
   if _iotkit_k(t)==0:
    os.rename(p,t)
    out.append(t)
   else:
    os.remove(p)
    out.append(p)
def _iotkit_b(name):
 top=name.split('.')[0]
 old={}
 for k in list(sys.modules):
  if k==top or k.startswith(top+'.'):
   old[k]=sys.modules.pop(k)
 path=sys.path[:]
 sys.path[:]=[x for x in path if x.startswith('.frozen')]
 try:
  __import__(name)
  return True
 except ImportError:
  return False
 finally:
  sys.path[:]=path
  for k in list(sys.modules):
   if k==top or k.startswith(top+'.'):
    del sys.modules[k]
  sys.modules.update(old)
try:
 import json
 with open(%(record)r) as f:_iotkit_d=dict(json.load(f))
except Exception:
 _iotkit_d={}
_iotkit_r={}
_iotkit_r['stale']=[]
if %(cleanup)r:
 _iotkit_s('/',_iotkit_r['stale'])
try:
 import deflate
 _iotkit_r['deflate']=hasattr(deflate,'DeflateIO')
except ImportError:
 _iotkit_r['deflate']=False
_iotkit_r['mpy']=getattr(sys.implementation,'_mpy',0)
_iotkit_r['platform']=sys.platform
try:
 _iotkit_r['fs']=os.statvfs('/')[:4]
except (AttributeError,OSError):
 _iotkit_r['fs']=None
gc.collect()
try:
 _iotkit_r['mem']=gc.mem_free()
except AttributeError:
 _iotkit_r['mem']=-1
_iotkit_r['builtin']=[n for n in %(libs)r if _iotkit_b(n)]
_iotkit_r['dirs']=[_iotkit_k(p) for p in %(dirs)r]
_iotkit_r['files']=[_iotkit_h(p) for p in %(paths)r]
print(repr(_iotkit_r))
del _iotkit_h,_iotkit_sha,_iotkit_k,_iotkit_s,_iotkit_b,_iotkit_r,_iotkit_d
"""


def deploy_survey(paths: list[str], dirs: list[str], libs: list[str], cleanup: bool) -> str:
    """One exec that tells the deploy everything it needs to plan.

    Hash and size of every destination (and 1 when RECORD_PATH says a deploy put exactly that
    content there, else 0), which parent folders exist, whether `deflate` and frozen libraries
    are there, the .mpy version, free flash and heap; with `cleanup`, it also sweeps the temp
    files an interrupted deploy left behind (the only write it does).
    """
    return _SURVEY % {
        "record": RECORD_PATH,
        "hashlen": RECORD_HASH,
        "chars": DIGEST_CHARS,
        "tmp": TMP_SUFFIX,
        "spool": SPOOL_SUFFIX,
        "new": NEW_SUFFIX,
        "newlen": len(NEW_SUFFIX),
        "cleanup": bool(cleanup),
        "libs": [str(x) for x in libs],
        "dirs": [str(x) for x in dirs],
        "paths": [str(x) for x in paths],
    }


def parse_survey(out: bytes) -> dict:
    return ast.literal_eval(out.decode("utf-8", "replace").strip())


# The writer. Defined once per deploy; each transfer exec then only calls these with data, so
# a 4 KB chunk costs ~20 bytes of code. State lives in one dict so a cancel or an error can
# find (and remove) the file that was being written.
DEPLOY_HELPERS = """\
import os,io,hashlib,binascii
try:
 import deflate
except ImportError:
 pass
_iotkit_g={'p':None,'f':None}
def _iotkit_o(p,z):
 g=_iotkit_g
 g['p']=p
 g['t']=p+'%(tmp)s'
 g['z']=p+'%(spool)s' if z else None
 g['h']=hashlib.sha256()
 g['n']=0
 g['f']=open(g['z'] or g['t'],'wb')
def _iotkit_w(b):
 g=_iotkit_g
 d=binascii.a2b_base64(b)
 g['f'].write(d)
 if not g['z']:
  g['h'].update(d)
  g['n']+=len(d)
def _iotkit_u(s):
 g=_iotkit_g
 f=g['f']
 b=bytearray(512)
 m=memoryview(b)
 d=deflate.DeflateIO(s,deflate.ZLIB)
 while True:
  k=d.readinto(b)
  if not k:
   break
  f.write(m[:k])
  g['h'].update(m[:k])
  g['n']+=k
def _iotkit_v(b):
 _iotkit_u(io.BytesIO(binascii.a2b_base64(b)))
def _iotkit_i(sha,size):
 g=_iotkit_g
 g['f'].close()
 g['f']=None
 got=binascii.b2a_base64(g['h'].digest())[:%(chars)d].decode()
 if got!=sha or g['n']!=size:
  os.remove(g['t'])
  raise ValueError('iotkit-mismatch',g['p'],got,g['n'])
 try:
  os.rename(g['t'],g['p'])
 except OSError:
  n=g['p']+'%(new)s'
  os.rename(g['t'],n)
  os.remove(g['p'])
  os.rename(n,g['p'])
 g['p']=None
def _iotkit_c(sha,size):
 g=_iotkit_g
 if g['z']:
  g['f'].close()
  g['f']=open(g['t'],'wb')
  with open(g['z'],'rb') as s:
   _iotkit_u(s)
  os.remove(g['z'])
  g['z']=None
 _iotkit_i(sha,size)
def _iotkit_1(p,b,z,sha,size):
 _iotkit_o(p,False)
 if z:
  _iotkit_v(b)
 else:
  _iotkit_w(b)
 _iotkit_i(sha,size)
def _iotkit_m(p):
 try:
  os.mkdir(p)
 except OSError:
  if not os.stat(p)[0]&0x4000:
   raise
def _iotkit_x():
 g=_iotkit_g
 if g['f']:
  try:
   g['f'].close()
  except OSError:
   pass
  g['f']=None
 if g['p']:
  for k in ('t','z'):
   if g.get(k):
    try:
     os.remove(g[k])
    except OSError:
     pass
 try:
  s=os.statvfs('/')
  free=s[0]*s[3]
 except (AttributeError,OSError):
  free=-1
 print(repr((g['p'],free)))
 g['p']=None
""" % {
    "tmp": TMP_SUFFIX,
    "spool": SPOOL_SUFFIX,
    "new": NEW_SUFFIX,
    "chars": DIGEST_CHARS,
}

DEPLOY_ABORT = "_iotkit_x()\n"
DEPLOY_END = "del _iotkit_g,_iotkit_o,_iotkit_w,_iotkit_u,_iotkit_v,_iotkit_i,_iotkit_c,_iotkit_1,_iotkit_m,_iotkit_x\n"


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def call_open(dest: str, spooled: bool) -> str:
    return f"_iotkit_o({q(dest)},{bool(spooled)})\n"


def call_write(payload_b64: bytes, inflate: bool) -> str:
    return f"{'_iotkit_v' if inflate else '_iotkit_w'}({payload_b64!r})\n"


def call_close(sha: str, size: int) -> str:
    """`sha`: the file's digest() (SHA-256, base64)."""
    return f"_iotkit_c({sha!r},{int(size)})\n"


def call_whole(dest: str, payload_b64: bytes, compressed: bool, sha: str, size: int) -> str:
    return f"_iotkit_1({q(dest)},{payload_b64!r},{bool(compressed)},{sha!r},{int(size)})\n"


def call_mkdir(path: str) -> str:
    return f"_iotkit_m({q(path)})\n"


def call_remove(path: str) -> str:
    return f"os.remove({q(path)})\n"


# Backups. Only a template deploy makes them, and only of a board file it is about to replace
# (or remove) that no deploy put there. The copy runs on the board, flash to flash, 512 bytes at
# a time, into a temp name in BACKUP_DIR that is renamed once the copy is complete and its
# SHA-256 checked, so a cut leaves no backup or a whole one (the sweep removes the temp file).

_BACKUP_SURVEY = "import os,hashlib,binascii\n" + SHA_FN + """\
def _iotkit_h(p):
 return binascii.b2a_base64(_iotkit_sha(p)[0])[:%(chars)d].decode()
def _iotkit_q(d,n):
 r=[]
 try:
  for e in os.ilistdir(d):
   m=e[0]
   if m==n or m.startswith(n+'.') and m[len(n)+1:].isdigit():
    r.append((m,None if e[1]&0x4000 else _iotkit_h(d+'/'+m)))
 except OSError:
  pass
 return r
print(repr([_iotkit_q(d,n) for d,n in %(places)r]))
del _iotkit_h,_iotkit_sha,_iotkit_q
"""


def backup_survey(folders_names: list[tuple[str, str]]) -> str:
    """For each (folder, name): the backups already there, [(name or name.N, digest or None
    for a folder)], so the deploy can pick the next free name and skip an identical copy."""
    places = [(str(d), str(n)) for d, n in folders_names]
    return _BACKUP_SURVEY % {"places": places, "chars": DIGEST_CHARS}


def parse_backup_survey(out: bytes) -> list[list[tuple[str, str | None]]]:
    return ast.literal_eval(out.decode("utf-8", "replace").strip())


BACKUP_HELPER = """\
def _iotkit_y(s,d,sha,x):
 q=''
 for c in d.split('/')[1:-1]:
  q+='/'+c
  try:
   os.mkdir(q)
  except OSError:
   pass
 t=d+'%(tmp)s'
 h=hashlib.sha256()
 b=bytearray(512)
 m=memoryview(b)
 try:
  with open(s,'rb') as f:
   with open(t,'wb') as g:
    while True:
     k=f.readinto(b)
     if not k:
      break
     g.write(m[:k])
     h.update(m[:k])
  if binascii.b2a_base64(h.digest())[:%(chars)d].decode()!=sha:
   raise ValueError('iotkit-backup-mismatch',s)
  os.rename(t,d)
 except:
  try:
   os.remove(t)
  except OSError:
   pass
  raise
 for p in x:
  try:
   os.remove(p)
  except OSError:
   pass
""" % {"tmp": TMP_SUFFIX, "chars": DIGEST_CHARS}
BACKUP_END = "del _iotkit_y\n"


def call_backup(src: str, dst: str, sha: str, drop: list[str]) -> str:
    """Copy src to dst on the board (checked against `sha`, its digest(), and installed by a
    rename from a temp name), then remove the `drop` files."""
    return f"_iotkit_y({q(src)},{q(dst)},{sha!r},{[str(p) for p in drop]!r})\n"


# The record is merged on the board (entries not in this deploy stay) and written through a
# temp file and a rename. A failure to write it is not an error: the files are in place, and a
# missing entry only means a later template deploy keeps one copy too many.
_RECORD_UPDATE = """\
import os
try:
 import json
except ImportError:
 import ujson as json
def _iotkit_j(u):
 p=%(record)r
 t=p+'%(tmp)s'
 try:
  with open(p) as f:
   r=json.load(f)
  if not isinstance(r,dict):
   r={}
 except (OSError,ValueError):
  r={}
 for k in u:
  if u[k] is None:
   r.pop(k,None)
  else:
   r[k]=u[k]
 try:
  try:
   os.mkdir(%(folder)r)
  except OSError:
   pass
  with open(t,'w') as f:
   json.dump(r,f)
  try:
   os.rename(t,p)
  except OSError:
   n=p+'%(new)s'
   os.rename(t,n)
   os.remove(p)
   os.rename(n,p)
 except OSError:
  try:
   os.remove(t)
  except OSError:
   pass
_iotkit_j(%(entries)r)
del _iotkit_j
"""


def record_update(entries: dict[str, str | None]) -> str:
    """Set (or, for None, drop) these {path: hash prefix} entries of RECORD_PATH on the board."""
    return _RECORD_UPDATE % {
        "record": RECORD_PATH,
        "folder": RECORD_PATH.rsplit("/", 1)[0],
        "tmp": TMP_SUFFIX,
        "new": NEW_SUFFIX,
        "entries": {str(k): v for k, v in entries.items()},
    }
