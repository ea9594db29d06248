//! The edge rejects models that break the contract, with an error naming the file and the fault.

mod common;

use std::path::Path;

use atelier_edge::contract::keys;
use atelier_edge::{Engine, EngineOptions};
use prost::Message;
use tract_onnx::pb;

fn base(dir: &Path, styles: &[&str]) -> pb::ModelProto {
    let path = common::export(dir, styles, 5);
    pb::ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap()
}

/// Writes `bytes` to a file and returns the load error's message.
fn load_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = Engine::load(&path, EngineOptions::default()).expect_err("must be rejected").to_string();
    assert!(err.contains(name), "error does not name the file: {err}");
    err
}

fn assert_contains(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "`{err}` does not mention `{p}`");
    }
}

#[test]
fn a_valid_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = base(dir.path(), &["a", "b"]).encode_to_vec();
    std::fs::write(dir.path().join("ok.onnx"), bytes).unwrap();
    Engine::load(&dir.path().join("ok.onnx"), EngineOptions::default()).unwrap();
}

#[test]
fn not_onnx_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(
        dir.path(),
        "photo.onnx",
        &std::fs::read(common::repo_data().join("people/mpl_grace_hopper.jpg")).unwrap(),
    );
    assert_contains(&err, &["not an ONNX model"]);
    let err = load_error(dir.path(), "empty.onnx", b"");
    assert_contains(&err, &["empty"]);
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = base(dir.path(), &["a", "b"]).encode_to_vec();
    let err = load_error(dir.path(), "cut.onnx", &bytes[..bytes.len() * 2 / 3]);
    assert_contains(&err, &["truncated"]);
}

#[test]
fn missing_image_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = base(dir.path(), &["a", "b"]);
    m.graph.as_mut().unwrap().input.retain(|i| i.name != "image");
    let err = load_error(dir.path(), "noimage.onnx", &m.encode_to_vec());
    assert_contains(&err, &["missing input `image`", "[1,3,H,W]"]);
}

#[test]
fn wrong_rank_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = base(dir.path(), &["a", "b"]);
    set_tensor_type(&mut m, "image", |t| {
        t.shape.as_mut().unwrap().dim.pop();
    });
    let err = load_error(dir.path(), "rank3.onnx", &m.encode_to_vec());
    assert_contains(&err, &["`image` must be f32 [1,3,H,W]", "rank 3"]);

    let mut m = base(dir.path(), &["a", "b"]);
    set_tensor_type(&mut m, "image", |t| t.elem_type = pb::tensor_proto::DataType::Uint8 as i32);
    let err = load_error(dir.path(), "uint8.onnx", &m.encode_to_vec());
    assert_contains(&err, &["`image` must be f32", "uint8"]);
}

#[test]
fn styles_metadata_length_differs_from_style_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = base(dir.path(), &["a", "b", "c"]);
    m.metadata_props.iter_mut().find(|p| p.key == keys::STYLES).unwrap().value = r#"["a","b"]"#.into();
    let err = load_error(dir.path(), "styles.onnx", &m.encode_to_vec());
    assert_contains(&err, &["lists 2 styles", "has 3"]);

    let mut m = base(dir.path(), &["a", "b"]);
    m.metadata_props.retain(|p| p.key != keys::STYLES);
    let err = load_error(dir.path(), "nostyles.onnx", &m.encode_to_vec());
    assert_contains(&err, &["atelier.styles", "missing"]);
}

#[test]
fn unsupported_op() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = base(dir.path(), &["a", "b"]);
    let node = m.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
    node.op_type = "FancyActivation".into();
    let err = load_error(dir.path(), "fancy.onnx", &m.encode_to_vec());
    assert_contains(&err, &["tract cannot run the model", "FancyActivation"]);
}

#[test]
fn old_opset() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = base(dir.path(), &["a"]);
    m.opset_import[0].version = 9;
    let err = load_error(dir.path(), "opset9.onnx", &m.encode_to_vec());
    assert_contains(&err, &["opset 9", ">= 13"]);
}

fn set_tensor_type(m: &mut pb::ModelProto, name: &str, f: impl FnOnce(&mut pb::type_proto::Tensor)) {
    let input = m.graph.as_mut().unwrap().input.iter_mut().find(|i| i.name == name).unwrap();
    let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.as_mut().unwrap().value.as_mut() else {
        panic!("not a tensor")
    };
    f(t);
}
