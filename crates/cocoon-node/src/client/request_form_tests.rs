//! Forms at the client: an end-to-end encrypted form passes to the worker with its key named
//! for the proxy; a clear one is still checked against the worker's schema.

use cocoon_e2e::multipart::{encrypt_form, write_form, Form, FormPart};
use cocoon_e2e::{Direction, Seed};

use super::prepare_form;

const CONTENT_TYPE: &str = "multipart/form-data; boundary=b0undary";
const PATH: &str = "/v1/audio/transcriptions";

fn form() -> Form {
    let mut form = Form::new();
    form.insert("model".into(), FormPart::field("model", "whisper-1"));
    form.insert("stream".into(), FormPart::field("stream", "true"));
    form.insert(
        "file".into(),
        FormPart {
            headers: vec![
                b"Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"".to_vec(),
                b"Content-Type: audio/wav".to_vec(),
            ],
            value: vec![0, 1, 2, 3, 250, 251],
        },
    );
    form
}

fn headers() -> Vec<(String, String)> {
    vec![("Content-Type".into(), CONTENT_TYPE.into())]
}

#[test]
fn an_encrypted_form_names_its_key_and_is_relayed_as_it_streams() {
    let key_manager = Seed::from_bytes([5; 32]).public_key();
    let mut form = form();
    encrypt_form(
        &mut form,
        &Seed::from_bytes([6; 32]),
        &key_manager,
        Direction::CallerToWorker,
    )
    .expect("encrypt");
    let body = write_form(CONTENT_TYPE, &form).expect("write");
    let prepared = prepare_form(PATH, headers(), &body).expect("an encrypted form passes");
    assert_eq!(prepared.encrypted_with, Some(key_manager.0));
    assert_eq!(prepared.model, "whisper-1");
    assert!(
        prepared.stream,
        "stream is ciphertext: relayed as it arrives"
    );
    let sent = String::from_utf8_lossy(&prepared.body);
    assert!(
        sent.contains("ENC_") && sent.contains("is_encrypted"),
        "{sent}"
    );
}

#[test]
fn a_clear_form_is_checked_and_names_no_key() {
    let body = write_form(CONTENT_TYPE, &form()).expect("write");
    let prepared = prepare_form(PATH, headers(), &body).expect("a clear form passes");
    assert_eq!(prepared.encrypted_with, None);
    assert!(prepared.stream);

    let mut unknown = form();
    unknown.insert("colour".into(), FormPart::field("colour", "blue"));
    let body = write_form(CONTENT_TYPE, &unknown).expect("write");
    assert!(
        prepare_form(PATH, headers(), &body).is_err(),
        "unknown field refused"
    );

    let mut bad_key = form();
    bad_key.insert("is_encrypted".into(), FormPart::field("is_encrypted", "v1"));
    bad_key.insert(
        "receiver_public_key".into(),
        FormPart::field("receiver_public_key", "short"),
    );
    let body = write_form(CONTENT_TYPE, &bad_key).expect("write");
    let err = prepare_form(PATH, headers(), &body).expect_err("bad key");
    assert!(
        format!("{err:?}").contains("receiver_public_key"),
        "{err:?}"
    );
}
