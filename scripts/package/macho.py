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


def adhoc_sign(image: bytes, identifier: str) -> bytes:
    """An unsigned thin 64-bit image, signed ad hoc as `codesign --sign -` signs it: a
    CodeDirectory of SHA-256 page hashes in a new LC_CODE_SIGNATURE at the end of __LINKEDIT.
    (Xcode signs the framework it embeds, not the libraries nested in it; those must come
    signed, and PyPI's Intel macOS ONNX Runtime does not.)"""
    data = bytearray(image)
    ncmds, sizeofcmds = struct.unpack_from("<II", data, 16)
    commands = list(_commands(bytes(data)))
    if any(cmd == LC_CODE_SIGNATURE for cmd, _ in commands):
        raise ValueError("already signed")
    linkedit = text = None
    first_section = len(data)
    for cmd, at in commands:
        if cmd != 0x19:  # LC_SEGMENT_64
            continue
        name = bytes(data[at + 8 : at + 24]).rstrip(b"\0")
        if name == b"__LINKEDIT":
            linkedit = at
        elif name == b"__TEXT":
            text = at
        (nsects,) = struct.unpack_from("<I", data, at + 64)
        for s in range(nsects):
            size, offset = struct.unpack_from("<QI", data, at + 72 + 80 * s + 40)
            if size and offset:
                first_section = min(first_section, offset)
    if linkedit is None or text is None:
        raise ValueError("no __TEXT or __LINKEDIT segment")
    end = 32 + sizeofcmds
    if end + 16 > first_section or any(data[end : end + 16]):
        raise ValueError("no room after the load commands for LC_CODE_SIGNATURE")

    dataoff = -(-len(data) // 16) * 16
    ident = identifier.encode() + b"\0"
    page, n_code = 4096, -(-dataoff // 4096)
    cd_header = 88
    cd_length = cd_header + len(ident) + 32 * n_code
    sig_size = 20 + cd_length
    # The header and __LINKEDIT as they will be, before hashing the pages that hold them.
    struct.pack_into("<IIII", data, end, LC_CODE_SIGNATURE, 16, dataoff, sig_size)
    struct.pack_into("<II", data, 16, ncmds + 1, sizeofcmds + 16)
    fileoff = struct.unpack_from("<Q", data, linkedit + 40)[0]
    filesize = dataoff + sig_size - fileoff
    struct.pack_into("<QQQ", data, linkedit + 32, -(-filesize // 0x4000) * 0x4000, fileoff, filesize)
    data += b"\0" * (dataoff - len(data))

    text_fileoff, text_filesize = struct.unpack_from("<QQ", data, text + 40)
    cd = struct.pack(">IIIIIIIIIBBBBIIIIQQQQ", 0xFADE0C02, cd_length, 0x20400, 0x2,
                     cd_header + len(ident), cd_header, 0, n_code, dataoff, 32, 2, 0, 12,
                     0, 0, 0, 0, 0, text_fileoff, text_filesize, 0)
    assert len(cd) == cd_header
    cd += ident + b"".join(hashlib.sha256(bytes(data[k * page : min((k + 1) * page, dataoff)])).digest()
                           for k in range(n_code))
    blob = struct.pack(">IIIII", 0xFADE0CC0, sig_size, 1, 0, 20) + cd
    return bytes(data) + blob
