//! The operator types a graph file uses, read from its ONNX protobuf (`ModelProto.graph
//! .node[].op_type`, subgraphs of `If`/`Loop` included) without reading its weights: the
//! initializers are skipped by length, so a 500 MB graph costs a few reads.
//!
//! ONNX Runtime does not expose a session's nodes, and these three fields do not warrant a
//! protobuf code generator and the ONNX schema in the library.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

/// Protobuf field numbers (onnx.proto).
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const NODE_OP_TYPE: u64 = 4;
const NODE_ATTRIBUTE: u64 = 5;
const ATTRIBUTE_GRAPH: u64 = 6;
const ATTRIBUTE_GRAPHS: u64 = 11;

/// Subgraphs nested deeper than this are not read (a malformed file cannot recurse forever).
const MAX_DEPTH: usize = 16;

/// Every operator type in the ONNX file at `path`.
pub(crate) fn op_types(path: &Path) -> io::Result<BTreeSet<String>> {
    let file = File::open(path)?;
    let end = file.metadata()?.len();
    let mut wire = Wire::new(BufReader::new(file), end);
    let mut ops = BTreeSet::new();
    while wire.pos < end {
        let (field, kind) = wire.key()?;
        if field == MODEL_GRAPH && kind == LEN {
            let len = wire.length()?;
            graph(&mut wire, len, &mut ops, 0)?;
        } else {
            wire.skip(kind)?;
        }
    }
    Ok(ops)
}

/// A GraphProto's nodes, from `wire`'s position to `len` bytes further.
fn graph<R: Read + Seek>(
    wire: &mut Wire<R>,
    len: u64,
    ops: &mut BTreeSet<String>,
    depth: usize,
) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(malformed("subgraphs nested too deep"));
    }
    let end = wire.pos + len;
    while wire.pos < end {
        let (field, kind) = wire.key()?;
        if field == GRAPH_NODE && kind == LEN {
            let len = wire.length()?;
            let bytes = wire.bytes(len)?;
            node(&bytes, ops, depth)?;
        } else {
            wire.skip(kind)?;
        }
    }
    Ok(())
}

fn node(bytes: &[u8], ops: &mut BTreeSet<String>, depth: usize) -> io::Result<()> {
    let mut wire = Wire::new(Cursor::new(bytes), bytes.len() as u64);
    while wire.pos < wire.end {
        let (field, kind) = wire.key()?;
        match (field, kind) {
            (NODE_OP_TYPE, LEN) => {
                let len = wire.length()?;
                let name = wire.bytes(len)?;
                ops.insert(String::from_utf8_lossy(&name).into_owned());
            }
            (NODE_ATTRIBUTE, LEN) => {
                let len = wire.length()?;
                let end = wire.pos + len;
                while wire.pos < end {
                    let (field, kind) = wire.key()?;
                    if (field == ATTRIBUTE_GRAPH || field == ATTRIBUTE_GRAPHS) && kind == LEN {
                        let len = wire.length()?;
                        graph(&mut wire, len, ops, depth + 1)?;
                    } else {
                        wire.skip(kind)?;
                    }
                }
            }
            _ => wire.skip(kind)?,
        }
    }
    Ok(())
}

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// A protobuf reader that knows its position and where its message ends.
struct Wire<R> {
    reader: R,
    pos: u64,
    end: u64,
}

impl<R: Read + Seek> Wire<R> {
    fn new(reader: R, end: u64) -> Self {
        Self {
            reader,
            pos: 0,
            end,
        }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8];
        self.reader.read_exact(&mut b)?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a varint longer than 10 bytes"))
    }

    fn key(&mut self) -> io::Result<(u64, u64)> {
        let key = self.varint()?;
        Ok((key >> 3, key & 7))
    }

    /// A length prefix, checked against the bytes left.
    fn length(&mut self) -> io::Result<u64> {
        let len = self.varint()?;
        if len > self.end.saturating_sub(self.pos) {
            return Err(malformed("a field longer than the file"));
        }
        Ok(len)
    }

    fn bytes(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.reader.read_exact(&mut buf)?;
        self.pos += len;
        Ok(buf)
    }

    fn skip(&mut self, kind: u64) -> io::Result<()> {
        let len = match kind {
            VARINT => {
                self.varint()?;
                return Ok(());
            }
            FIXED64 => 8,
            LEN => self.length()?,
            FIXED32 => 4,
            other => return Err(malformed(&format!("wire type {other}"))),
        };
        self.reader.seek(SeekFrom::Current(len as i64))?;
        self.pos += len;
        Ok(())
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not an ONNX protobuf: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | LEN, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn node_of(op: &str, subgraph: Option<&[u8]>) -> Vec<u8> {
        let mut node = Vec::new();
        field(1, b"x", &mut node); // input
        field(NODE_OP_TYPE, op.as_bytes(), &mut node);
        if let Some(g) = subgraph {
            let mut attribute = Vec::new();
            field(1, b"then_branch", &mut attribute);
            varint(20 << 3 | VARINT, &mut attribute); // type = GRAPH
            varint(5, &mut attribute);
            field(ATTRIBUTE_GRAPH, g, &mut attribute);
            field(NODE_ATTRIBUTE, &attribute, &mut node);
        }
        node
    }

    #[test]
    fn reads_op_types_of_nodes_and_subgraphs_skipping_initializers() {
        let mut inner = Vec::new();
        field(
            GRAPH_NODE,
            &node_of("DynamicQuantizeLinear", None),
            &mut inner,
        );
        let mut graph = Vec::new();
        field(5, &[7u8; 1000], &mut graph); // an initializer
        field(GRAPH_NODE, &node_of("MatMulNBits", None), &mut graph);
        field(GRAPH_NODE, &node_of("If", Some(&inner)), &mut graph);
        let mut model = Vec::new();
        varint(1 << 3 | VARINT, &mut model); // ir_version
        varint(10, &mut model);
        field(MODEL_GRAPH, &graph, &mut model);
        let path = std::env::temp_dir().join(format!("ns-op-types-{}.onnx", std::process::id()));
        std::fs::write(&path, &model).unwrap();
        let ops = op_types(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let got: Vec<&str> = ops.iter().map(String::as_str).collect();
        assert_eq!(got, ["DynamicQuantizeLinear", "If", "MatMulNBits"]);
    }

    #[test]
    fn a_truncated_or_garbled_file_is_an_error_not_a_huge_allocation() {
        let mut model = Vec::new();
        varint(MODEL_GRAPH << 3 | LEN, &mut model);
        varint(u64::MAX >> 1, &mut model); // a length far past the end
        let path =
            std::env::temp_dir().join(format!("ns-op-types-bad-{}.onnx", std::process::id()));
        std::fs::write(&path, &model).unwrap();
        let err = op_types(&path).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(err.to_string().contains("longer than the file"), "{err}");
    }
}
