//! The Anthropic-shaped route, `POST /v1/messages`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::behaviour::{Behaviour, DIE_AFTER_CHUNKS, LONG_STREAM_CHUNKS, LONG_STREAM_INTERVAL};
use crate::state::{parse_body, AppState, CancelGuard, Dialect, Rejection};
use crate::stream::{event_frame, sse_response, Frames, Pacing};
use crate::text::{self, Answer};

/// `POST /v1/messages`. Like Anthropic, `max_tokens` is required (400 without it).
pub(crate) async fn messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = state.begin(&headers);
    if let Err(answer) = state.authorize(Dialect::Anthropic, &headers) {
        return answer.into_response();
    }
    let body = match parse_body(Dialect::Anthropic, &body) {
        Ok(body) => body,
        Err(answer) => return answer.into_response(),
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("echo")
        .to_owned();
    let behaviour = Behaviour::from_model(&model);
    if let Err(answer) = state
        .gate(Dialect::Anthropic, &headers, &ctx, behaviour)
        .await
    {
        return answer.into_response();
    }
    let Some(max_tokens) = body.get("max_tokens").and_then(Value::as_u64) else {
        return Rejection::new(
            Dialect::Anthropic,
            StatusCode::BAD_REQUEST,
            "max_tokens: Field required",
        )
        .into_response();
    };
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let messages = body.get("messages");
    let input_tokens =
        text::message_words(messages) + text::words(&text::content_text(body.get("system")));
    let answer = if stream && behaviour == Behaviour::LongStream {
        Answer::numbered(LONG_STREAM_CHUNKS)
    } else {
        Answer::new(&text::last_user_text(messages), Some(max_tokens))
    };
    let stop_reason = if answer.truncated {
        "max_tokens"
    } else {
        "end_turn"
    };
    let with_usage = behaviour != Behaviour::NoUsage;
    let id = format!("msg_mock{}", state.next_id());

    if !stream {
        let mut reply = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": answer.text()}],
            "stop_reason": stop_reason, "stop_sequence": null,
        });
        if with_usage {
            reply["usage"] = json!({"input_tokens": input_tokens, "output_tokens": answer.words()});
        }
        return Json(reply).into_response();
    }

    let mut frames = Frames::default();
    let mut message = json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
    });
    if with_usage {
        message["usage"] = json!({"input_tokens": input_tokens, "output_tokens": 1});
    }
    frames.head.push(event_frame(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    ));
    frames.head.push(event_frame(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    frames
        .head
        .push(event_frame("ping", &json!({"type": "ping"})));
    for piece in &answer.pieces {
        frames.words.push(event_frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    frames.tail.push(event_frame(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    let mut delta = json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}});
    if with_usage {
        delta["usage"] = json!({"output_tokens": answer.words()});
    }
    frames.tail.push(event_frame("message_delta", &delta));
    frames.tail.push(event_frame(
        "message_stop",
        &json!({"type": "message_stop"}),
    ));
    let pacing = match behaviour {
        Behaviour::LongStream => Pacing::Interval(LONG_STREAM_INTERVAL),
        Behaviour::StallStream => Pacing::StallAfter(1),
        Behaviour::DieMidstream => Pacing::DieAfter(DIE_AFTER_CHUNKS),
        _ => Pacing::Immediate,
    };
    sse_response(frames, pacing, CancelGuard::new(&ctx))
}
