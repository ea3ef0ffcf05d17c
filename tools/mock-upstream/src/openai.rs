//! The OpenAI-shaped routes.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::behaviour::{Behaviour, DIE_AFTER_CHUNKS, LONG_STREAM_CHUNKS, LONG_STREAM_INTERVAL};
use crate::state::{parse_body, AppState, CancelGuard, Dialect, Rejection, RequestCtx};
use crate::stream::{data_frame, sse_response, Frames, Pacing};
use crate::text::{self, Answer};

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Count, authorize, parse and apply the behaviour; `Err` is the answer to send.
async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(RequestCtx, Map<String, Value>, Behaviour, String), Rejection> {
    let ctx = state.begin(headers);
    state.authorize(Dialect::OpenAi, headers)?;
    let body = parse_body(Dialect::OpenAi, body)?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("echo")
        .to_owned();
    let behaviour = Behaviour::from_model(&model);
    state
        .gate(Dialect::OpenAi, headers, &ctx, behaviour)
        .await?;
    Ok((ctx, body, behaviour, model))
}

fn pacing(behaviour: Behaviour) -> Pacing {
    match behaviour {
        Behaviour::LongStream => Pacing::Interval(LONG_STREAM_INTERVAL),
        Behaviour::StallStream => Pacing::StallAfter(1),
        Behaviour::DieMidstream => Pacing::DieAfter(DIE_AFTER_CHUNKS),
        _ => Pacing::Immediate,
    }
}

fn wants_stream(body: &Map<String, Value>) -> bool {
    body.get("stream").and_then(Value::as_bool) == Some(true)
}

fn wants_usage(body: &Map<String, Value>) -> bool {
    body.get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn usage_json(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// `GET /v1/models`
pub(crate) async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let _ctx = state.begin(&headers);
    if let Err(answer) = state.authorize(Dialect::OpenAi, &headers) {
        return answer.into_response();
    }
    let data: Vec<Value> = Behaviour::MODEL_NAMES
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "kobo-mock"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// A stream chunk; like OpenAI, every chunk has `"usage": null` when usage was asked for.
fn chunk(
    id: &str,
    object: &str,
    created: u64,
    model: &str,
    choice: Value,
    usage_field: bool,
) -> Bytes {
    let mut value = json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice]});
    if usage_field {
        value["usage"] = Value::Null;
    }
    data_frame(&value)
}

/// The closing frames: the usage chunk when asked for (and not `no-usage`), then `[DONE]`.
fn closing(frames: &mut Frames, ids: (&str, &str, u64, &str), usage: Option<Value>) {
    let (id, object, created, model) = ids;
    if let Some(usage) = usage {
        frames.tail.push(data_frame(&json!({
            "id": id, "object": object, "created": created, "model": model,
            "choices": [], "usage": usage,
        })));
    }
    frames.tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
}

/// `POST /v1/chat/completions`
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, body, behaviour, model) = match prepare(&state, &headers, &body).await {
        Ok(prepared) => prepared,
        Err(answer) => return answer.into_response(),
    };
    let stream = wants_stream(&body);
    let messages = body.get("messages");
    let prompt_tokens = text::message_words(messages);
    let answer = if stream && behaviour == Behaviour::LongStream {
        Answer::numbered(LONG_STREAM_CHUNKS)
    } else {
        Answer::new(&text::last_user_text(messages), text::max_tokens(&body))
    };
    let finish = if answer.truncated { "length" } else { "stop" };
    let usage =
        (behaviour != Behaviour::NoUsage).then(|| usage_json(prompt_tokens, answer.words()));
    let id = format!("chatcmpl-mock{}", state.next_id());
    let created = unix_now();

    if !stream {
        let mut reply = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text(), "refusal": null},
                "logprobs": null,
                "finish_reason": finish,
            }],
        });
        if let Some(usage) = usage {
            reply["usage"] = usage;
        }
        return Json(reply).into_response();
    }

    let include_usage = wants_usage(&body);
    let object = "chat.completion.chunk";
    let mut frames = Frames::default();
    let choice = |delta: Value, finish: Value| json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
    frames.head.push(chunk(
        &id,
        object,
        created,
        &model,
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        include_usage,
    ));
    for piece in &answer.pieces {
        frames.words.push(chunk(
            &id,
            object,
            created,
            &model,
            choice(json!({ "content": piece }), Value::Null),
            include_usage,
        ));
    }
    frames.tail.push(chunk(
        &id,
        object,
        created,
        &model,
        choice(json!({}), json!(finish)),
        include_usage,
    ));
    closing(
        &mut frames,
        (&id, object, created, &model),
        usage.filter(|_| include_usage),
    );
    sse_response(frames, pacing(behaviour), CancelGuard::new(&ctx))
}

/// `POST /v1/completions`
pub(crate) async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ctx, body, behaviour, model) = match prepare(&state, &headers, &body).await {
        Ok(prepared) => prepared,
        Err(answer) => return answer.into_response(),
    };
    let stream = wants_stream(&body);
    let prompts = text::input_texts(body.get("prompt"));
    let prompt_tokens: u64 = prompts.iter().map(|p| text::words(p)).sum();
    let answers: Vec<Answer> = if stream && behaviour == Behaviour::LongStream {
        vec![Answer::numbered(LONG_STREAM_CHUNKS)]
    } else {
        prompts
            .iter()
            .map(|p| Answer::new(p, text::max_tokens(&body)))
            .collect()
    };
    let completion_tokens: u64 = answers.iter().map(Answer::words).sum();
    let usage =
        (behaviour != Behaviour::NoUsage).then(|| usage_json(prompt_tokens, completion_tokens));
    let finish = |a: &Answer| if a.truncated { "length" } else { "stop" };
    let id = format!("cmpl-mock{}", state.next_id());
    let created = unix_now();
    let object = "text_completion";

    if !stream {
        let choices: Vec<Value> = answers
            .iter()
            .enumerate()
            .map(|(index, a)| {
                json!({"index": index, "text": a.text(), "logprobs": null, "finish_reason": finish(a)})
            })
            .collect();
        let mut reply = json!({"id": id, "object": object, "created": created, "model": model, "choices": choices});
        if let Some(usage) = usage {
            reply["usage"] = usage;
        }
        return Json(reply).into_response();
    }

    let include_usage = wants_usage(&body);
    let mut frames = Frames::default();
    for (index, a) in answers.iter().enumerate() {
        for piece in &a.pieces {
            frames.words.push(chunk(
                &id,
                object,
                created,
                &model,
                json!({"index": index, "text": piece, "logprobs": null, "finish_reason": null}),
                include_usage,
            ));
        }
        frames.tail.push(chunk(
            &id,
            object,
            created,
            &model,
            json!({"index": index, "text": "", "logprobs": null, "finish_reason": finish(a)}),
            include_usage,
        ));
    }
    closing(
        &mut frames,
        (&id, object, created, &model),
        usage.filter(|_| include_usage),
    );
    sse_response(frames, pacing(behaviour), CancelGuard::new(&ctx))
}

/// `POST /v1/embeddings`
pub(crate) async fn embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_ctx, body, behaviour, model) = match prepare(&state, &headers, &body).await {
        Ok(prepared) => prepared,
        Err(answer) => return answer.into_response(),
    };
    let inputs = text::input_texts(body.get("input"));
    let prompt_tokens: u64 = inputs.iter().map(|i| text::words(i)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            json!({"object": "embedding", "index": index, "embedding": text::embedding(input)})
        })
        .collect();
    let mut reply = json!({"object": "list", "data": data, "model": model});
    if behaviour != Behaviour::NoUsage {
        reply["usage"] = json!({"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens});
    }
    Json(reply).into_response()
}
