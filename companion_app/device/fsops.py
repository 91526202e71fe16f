"""The MicroPython snippets the link sends for file operations, and the parsing of their answers.

Kept apart from the protocol code in `link.py` so the device side can be read (and checked
against small ports such as the ESP8266) in one place. Every snippet only uses modules every
MicroPython port has (os, binascii, hashlib) and cleans up the names it defines, because raw
REPL execs share the globals of the user's session.
"""

from __future__ import annotations

import ast
import base64
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


def hash_many(paths: list[str]) -> str:
    return (
        "import hashlib,binascii\n"
        "def _iotkit_h(p):\n"
        " try:\n"
        "  h=hashlib.sha256()\n"
        "  b=bytearray(512)\n"
        "  with open(p,'rb') as f:\n"
        "   while True:\n"
        "    n=f.readinto(b)\n"
        "    if not n:\n"
        "     break\n"
        "    h.update(memoryview(b)[:n])\n"
        "  return binascii.hexlify(h.digest()).decode()\n"
        " except OSError:\n"
        "  return None\n"
        f"print(repr([_iotkit_h(p) for p in {[str(p) for p in paths]!r}]))\n"
        "del _iotkit_h\n"
    )


def parse_hash_many(paths: list[str], out: bytes) -> dict[str, str | None]:
    values = ast.literal_eval(out.decode().strip())
    return dict(zip([str(p) for p in paths], values))
