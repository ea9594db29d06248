//! What decoding a model file would allocate, bounded before anything is decoded.
//!
//! Protobuf lets a few bytes stand for a large decoded structure: an empty `NodeProto` is 2 bytes
//! on the wire and ~200 in memory, a 1-byte varint in a packed `int64` field is 8. A 60 MiB
//! upload of empty nodes once asked for ~6 GB and took the mirror down. [`check`] walks the wire
//! format with the schema of the messages `tract_onnx::pb` decodes (fields it does not know are
//! skipped by the decoder without allocating, and here too), counts what would be built, and
//! refuses a file over [`LIMITS`] before `prost` sees it. It allocates nothing itself.

use std::mem::size_of;

use tract_onnx::pb;

use super::ContractError;

/// Bounds on a model file's content. A style generator has ~100 nodes, ~150 initializers and a
/// few hundred attributes; the person segmenter ~250 nodes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nodes, over every graph and function.
    pub nodes: usize,
    pub initializers: usize,
    pub attributes: usize,
    /// Graphs: the main one plus those inside attributes (If, Loop, Scan) and training info.
    pub graphs: usize,
    /// Messages of every kind.
    pub messages: usize,
    /// Nesting of messages.
    pub depth: usize,
    /// Decoded bytes allowed per byte of file, plus [`Limits::decoded_slack`].
    pub decoded_per_file_byte: u64,
    pub decoded_slack: u64,
}

pub const LIMITS: Limits = Limits {
    nodes: 10_000,
    initializers: 10_000,
    attributes: 100_000,
    graphs: 64,
    messages: 500_000,
    depth: 32,
    decoded_per_file_byte: 2,
    decoded_slack: 16 << 20,
};

/// The messages `tract_onnx::pb` decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Model,
    OperatorSetId,
    StringString,
    Graph,
    Node,
    Attribute,
    Tensor,
    Segment,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    Dimension,
    Annotation,
    TrainingInfo,
    Function,
}

impl Msg {
    /// Bytes one decoded value takes, before its strings and vectors.
    fn size(self) -> u64 {
        (match self {
            Msg::Model => size_of::<pb::ModelProto>(),
            Msg::OperatorSetId => size_of::<pb::OperatorSetIdProto>(),
            Msg::StringString => size_of::<pb::StringStringEntryProto>(),
            Msg::Graph => size_of::<pb::GraphProto>(),
            Msg::Node => size_of::<pb::NodeProto>(),
            Msg::Attribute => size_of::<pb::AttributeProto>(),
            Msg::Tensor => size_of::<pb::TensorProto>(),
            Msg::Segment => size_of::<pb::tensor_proto::Segment>(),
            Msg::SparseTensor => size_of::<pb::SparseTensorProto>(),
            Msg::ValueInfo => size_of::<pb::ValueInfoProto>(),
            Msg::Type => size_of::<pb::TypeProto>(),
            Msg::TypeTensor => size_of::<pb::type_proto::Tensor>(),
            Msg::Shape => size_of::<pb::TensorShapeProto>(),
            Msg::Dimension => size_of::<pb::tensor_shape_proto::Dimension>(),
            Msg::Annotation => size_of::<pb::TensorAnnotation>(),
            Msg::TrainingInfo => size_of::<pb::TrainingInfoProto>(),
            Msg::Function => size_of::<pb::FunctionProto>(),
        }) as u64
    }
}

/// What a field decodes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Message(Msg),
    /// A string or bytes; `true` when repeated (each element is a new `String`/`Vec`).
    Bytes(bool),
    /// A repeated varint-encoded number (int32, int64, uint64) of this many decoded bytes.
    Varints(u64),
    /// A repeated fixed-width number (float, double): as many bytes decoded as on the wire.
    Fixed,
    /// A singular number, or a field the decoder does not know: nothing allocated.
    Other,
}

/// The schema of `tract_onnx::pb` (onnx.proto's field numbers).
fn field(msg: Msg, tag: u32) -> Field {
    use Field::*;
    use Msg::*;
    match (msg, tag) {
        (Model, 8) | (Function, 9) => Message(OperatorSetId),
        (Model, 2 | 3 | 4 | 6) => Bytes(false),
        (Model, 7) => Message(Graph),
        (Model, 14) => Message(StringString),
        (Model, 20) => Message(TrainingInfo),
        (Model, 25) => Message(Function),
        (OperatorSetId, 1) => Bytes(false),
        (StringString, 1 | 2) => Bytes(false),
        (Graph, 1) => Message(Node),
        (Graph, 2 | 10) => Bytes(false),
        (Graph, 5) => Message(Tensor),
        (Graph, 15) => Message(SparseTensor),
        (Graph, 11..=13) => Message(ValueInfo),
        (Graph, 14) => Message(Annotation),
        (Node, 1 | 2) => Bytes(true),
        (Node, 3 | 4 | 6 | 7) => Bytes(false),
        (Node, 5) => Message(Attribute),
        (Attribute, 1 | 4 | 13 | 21) => Bytes(false),
        (Attribute, 5 | 10) => Message(Tensor),
        (Attribute, 6 | 11) => Message(Graph),
        (Attribute, 22 | 23) => Message(SparseTensor),
        (Attribute, 15) => Message(Type),
        (Attribute, 7) => Fixed,
        (Attribute, 8) => Varints(8),
        (Attribute, 9) => Bytes(true),
        (Tensor, 1 | 7 | 11) => Varints(8),
        (Tensor, 5) => Varints(4),
        (Tensor, 4 | 10) => Fixed,
        (Tensor, 3) => Message(Segment),
        (Tensor, 6) => Bytes(true),
        (Tensor, 8 | 9 | 12) => Bytes(false),
        (Tensor, 13) => Message(StringString),
        (SparseTensor, 1 | 2) => Message(Tensor),
        (SparseTensor, 3) => Varints(8),
        (ValueInfo, 1 | 3) => Bytes(false),
        (ValueInfo, 2) => Message(Type),
        (Type, 1) => Message(TypeTensor),
        (Type, 6) => Bytes(false),
        (TypeTensor, 2) => Message(Shape),
        (Shape, 1) => Message(Dimension),
        (Dimension, 2 | 3) => Bytes(false),
        (Annotation, 1) => Bytes(false),
        (Annotation, 2) => Message(StringString),
        (TrainingInfo, 1 | 2) => Message(Graph),
        (TrainingInfo, 3 | 4) => Message(StringString),
        (Function, 1 | 8 | 10) => Bytes(false),
        (Function, 4..=6) => Bytes(true),
        (Function, 7) => Message(Node),
        _ => Other,
    }
}

#[derive(Debug, Default)]
struct Tally {
    nodes: usize,
    initializers: usize,
    attributes: usize,
    graphs: usize,
    messages: usize,
    decoded: u64,
}

/// Refuses a file whose decoding would exceed [`LIMITS`] or that is not protobuf at all.
pub fn check(bytes: &[u8]) -> Result<(), ContractError> {
    check_with(bytes, &LIMITS)
}

pub fn check_with(bytes: &[u8], limits: &Limits) -> Result<(), ContractError> {
    let mut tally = Tally { decoded: Msg::Model.size(), ..Tally::default() };
    walk(bytes, Msg::Model, 1, limits, &mut tally)?;
    let budget =
        limits.decoded_slack.saturating_add(limits.decoded_per_file_byte.saturating_mul(bytes.len() as u64));
    if tally.decoded > budget {
        return Err(ContractError::OutOfBounds(format!(
            "it would decode into ~{} MB, more than its {} bytes can hold as a model",
            tally.decoded >> 20,
            bytes.len()
        )));
    }
    Ok(())
}

fn walk(
    mut buf: &[u8],
    msg: Msg,
    depth: usize,
    limits: &Limits,
    tally: &mut Tally,
) -> Result<(), ContractError> {
    if depth > limits.depth {
        return Err(ContractError::OutOfBounds(format!("messages nested deeper than {}", limits.depth)));
    }
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (tag, wire) = ((key >> 3) as u32, key & 7);
        if tag == 0 {
            return Err(wire_error("field number 0"));
        }
        let kind = field(msg, tag);
        match wire {
            0 => {
                varint(&mut buf)?;
                if let Field::Varints(size) = kind {
                    tally.decoded += size;
                }
            }
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                buf = buf.get(width..).ok_or_else(|| wire_error("a number cut short"))?;
                if kind == Field::Fixed {
                    tally.decoded += width as u64;
                }
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| wire_error("a length too large"))?;
                let body = buf.get(..len).ok_or_else(|| wire_error("a field longer than the file"))?;
                buf = &buf[len..];
                match kind {
                    Field::Message(inner) => {
                        count(inner, tally, limits)?;
                        walk(body, inner, depth + 1, limits, tally)?;
                    }
                    Field::Bytes(repeated) => {
                        tally.decoded += len as u64 + if repeated { size_of::<Vec<u8>>() as u64 } else { 0 };
                    }
                    // Packed: one value per varint (each ends with a byte under 0x80).
                    Field::Varints(size) => {
                        tally.decoded += size * body.iter().filter(|b| **b < 0x80).count() as u64;
                    }
                    Field::Fixed => tally.decoded += len as u64,
                    Field::Other => {}
                }
            }
            _ => return Err(wire_error("an unknown wire type (groups are not ONNX)")),
        }
    }
    Ok(())
}

fn count(msg: Msg, tally: &mut Tally, limits: &Limits) -> Result<(), ContractError> {
    tally.messages += 1;
    tally.decoded += msg.size();
    let (what, n, limit) = match msg {
        Msg::Node => {
            tally.nodes += 1;
            ("nodes", tally.nodes, limits.nodes)
        }
        Msg::Tensor => {
            tally.initializers += 1;
            ("tensors", tally.initializers, limits.initializers)
        }
        Msg::Attribute => {
            tally.attributes += 1;
            ("attributes", tally.attributes, limits.attributes)
        }
        Msg::Graph => {
            tally.graphs += 1;
            ("graphs", tally.graphs, limits.graphs)
        }
        _ => ("protobuf messages", tally.messages, limits.messages),
    };
    if n > limit || tally.messages > limits.messages {
        let (what, limit) = if n > limit { (what, limit) } else { ("protobuf messages", limits.messages) };
        return Err(ContractError::OutOfBounds(format!("more than {limit} {what}")));
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, ContractError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or_else(|| wire_error("a number cut short"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(wire_error("a number longer than 10 bytes"))
}

fn wire_error(what: &str) -> ContractError {
    ContractError::NotOnnx(format!("{what} in the protobuf data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn key(tag: u32, wire: u8) -> u8 {
        ((tag << 3) as u8) | wire
    }

    /// A model whose graph holds `n` empty nodes: 2 bytes each on the wire.
    fn node_bomb(n: usize) -> Vec<u8> {
        let graph: Vec<u8> = std::iter::repeat_n([key(1, 2), 0], n).flatten().collect();
        let mut model = vec![key(7, 2)];
        let mut len = graph.len() as u64;
        while len >= 0x80 {
            model.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        model.push(len as u8);
        model.extend(graph);
        model
    }

    #[test]
    fn the_shipped_models_pass() {
        for path in ["../models/classics6.onnx", "../models/garments7.onnx", "../models/classics6-int8w.onnx"]
        {
            let bytes = std::fs::read(path).unwrap();
            check(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }

    #[test]
    fn an_expansion_bomb_is_refused_before_decoding() {
        let bomb = node_bomb(LIMITS.nodes + 1);
        let err = check(&bomb).unwrap_err().to_string();
        assert!(err.contains("more than 10000 nodes"), "{err}");
        // What decoding it would have cost: the check is what stands in the way.
        let decoded = pb::ModelProto::decode(bomb.as_slice()).unwrap();
        assert_eq!(decoded.graph.unwrap().node.len(), LIMITS.nodes + 1);
        check(&node_bomb(100)).unwrap();
    }

    #[test]
    fn packed_numbers_count_what_they_decode_to() {
        // A tensor whose int64_data is 1-byte varints: 8 decoded bytes per file byte.
        let n = 1 << 20;
        let mut tensor = vec![key(7, 2), 0x80, 0x80, 0x40]; // length 2^20
        tensor.extend(std::iter::repeat_n(1u8, n));
        let mut graph = vec![key(5, 2)];
        let len = tensor.len();
        graph.extend([(len as u8 & 0x7f) | 0x80, ((len >> 7) as u8 & 0x7f) | 0x80, (len >> 14) as u8]);
        graph.extend(tensor);
        let mut model = vec![key(7, 2)];
        let len = graph.len();
        model.extend([(len as u8 & 0x7f) | 0x80, ((len >> 7) as u8 & 0x7f) | 0x80, (len >> 14) as u8]);
        model.extend(graph);
        let tight = Limits { decoded_slack: 0, ..LIMITS };
        let err = check_with(&model, &tight).unwrap_err().to_string();
        assert!(err.contains("would decode into ~8 MB"), "{err}");
        check(&model).unwrap();
    }

    #[test]
    fn broken_wire_data_is_not_onnx() {
        for bad in [&[0x3a, 0x05, 0x0a][..], &[0x0b], &[0xff; 11], &[0x00, 0x00]] {
            assert!(matches!(check(bad), Err(ContractError::NotOnnx(_))), "{bad:?}");
        }
        // Graphs inside attributes inside graphs...: nesting is bounded.
        let mut nested = vec![];
        for _ in 0..40 {
            let mut outer = vec![key(6, 2), nested.len() as u8];
            outer.extend(&nested);
            let mut node = vec![key(5, 2), outer.len() as u8];
            node.extend(outer);
            let mut graph = vec![key(1, 2), node.len() as u8];
            graph.extend(node);
            nested = graph;
            if nested.len() > 100 {
                break;
            }
        }
        let tight = Limits { depth: 4, ..LIMITS };
        let mut model = vec![key(7, 2), nested.len() as u8];
        model.extend(&nested);
        assert!(check_with(&model, &tight).unwrap_err().to_string().contains("nested deeper"));
    }
}
