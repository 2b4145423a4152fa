"""Mach-O helpers for the packages, in the standard library only: split and build
universal ("fat") files as lipo does, and check an ad-hoc code signature page by page (an
arm64 Mac refuses to load a library whose signature does not match its bytes, and no Mac
runs here to find out)."""

import hashlib
import struct

FAT_MAGIC = 0xCAFEBABE
MH_MAGIC_64 = 0xFEEDFACF
LC_CODE_SIGNATURE = 0x1D
LC_DYSYMTAB = 0x0B
CPU_NAMES = {0x0100000C: "arm64", 0x01000007: "x86_64"}
CPU_SUBTYPE = {0x0100000C: 0, 0x01000007: 3}  # CPU_SUBTYPE_ARM64_ALL, CPU_SUBTYPE_X86_64_ALL


def slices(data: bytes) -> list[tuple[str, int, int]]:
    """(architecture, offset, size) of each thin image in a thin or universal file."""
    (magic,) = struct.unpack_from(">I", data, 0)
    if magic == FAT_MAGIC:
        (count,) = struct.unpack_from(">I", data, 4)
        out = []
        for i in range(count):
            cpu, _sub, offset, size, _align = struct.unpack_from(">iiIII", data, 8 + 20 * i)
            out.append((CPU_NAMES.get(cpu & 0xFFFFFFFF, hex(cpu)), offset, size))
        return out
    (magic,) = struct.unpack_from("<I", data, 0)
    if magic != MH_MAGIC_64:
        raise ValueError(f"not a 64-bit Mach-O file (magic {magic:#x})")
    (cpu,) = struct.unpack_from("<I", data, 4)
    return [(CPU_NAMES.get(cpu, hex(cpu)), 0, len(data))]


def make_universal(thin_files: list[bytes]) -> bytes:
    """A universal file of thin Mach-O images, each slice aligned to 16 KiB (as lipo)."""
    align = 14
    header = struct.pack(">II", FAT_MAGIC, len(thin_files))
    offset = 1 << align
    entries, body = b"", b""
    for thin in thin_files:
        (cpu,) = struct.unpack_from("<I", thin, 4)
        pad = -(offset + len(body)) % (1 << align)
        body += b"\0" * pad
        entries += struct.pack(">IIIII", cpu, CPU_SUBTYPE[cpu], offset + len(body), len(thin), align)
        body += thin
    head = header + entries
    return head + b"\0" * (offset - len(head)) + body


def _commands(image: bytes):
    (ncmds,) = struct.unpack_from("<I", image, 16)
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", image, at)
        yield cmd, at
        at += size


def local_symbols(image: bytes) -> int:
    """How many local symbols the symbol table keeps (0 once stripped with -x)."""
    for cmd, at in _commands(image):
        if cmd == LC_DYSYMTAB:
            return struct.unpack_from("<I", image, at + 12)[0]
    return 0


def signature_problem(image: bytes) -> str | None:
    """None when the image's code signature hashes match its pages, else what is wrong."""
    found = [at for cmd, at in _commands(image) if cmd == LC_CODE_SIGNATURE]
    if not found:
        return "no code signature (arm64 macOS loads only signed code)"
    dataoff, datasize = struct.unpack_from("<II", image, found[0] + 8)
    blob = image[dataoff : dataoff + datasize]
    magic, _length, count = struct.unpack_from(">III", blob, 0)
    if magic != 0xFADE0CC0:
        return f"code signature is not a SuperBlob (magic {magic:#x})"
    for i in range(count):
        _type, o = struct.unpack_from(">II", blob, 12 + 8 * i)
        if struct.unpack_from(">I", blob, o)[0] != 0xFADE0C02:
            continue  # not a CodeDirectory
        fields = struct.unpack_from(">IIIIIIIIIBBBB", blob, o)
        hash_offset, n_code, code_limit, hash_size, hash_type, page_log = (
            fields[4], fields[7], fields[8], fields[9], fields[10], fields[12])
        if hash_type != 2:
            return f"code directory hash type {hash_type}, want SHA-256 (2)"
        page = 1 << page_log
        if n_code != -(-code_limit // page):
            return f"{n_code} page hashes for {code_limit} bytes"
        for k in range(n_code):
            want = blob[o + hash_offset + k * hash_size : o + hash_offset + (k + 1) * hash_size]
            if hashlib.sha256(image[k * page : min((k + 1) * page, code_limit)]).digest()[:hash_size] != want:
                return f"page {k} does not match its signed hash"
        return None
    return "code signature without a code directory"
