//! The gateway routes: authenticate, authorize, admit, forward, meter, answer.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::extract::RawBody;
use crate::gateway::admission::{KeyLimits, Request as AdmitRequest, Ticket};
use crate::gateway::auth::{self, GatewayCaller};
use crate::state::AppState;
use crate::telemetry::RequestId;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use kobo_domain::calendar;
use kobo_domain::money::cost_millikobo;
use kobo_providers::{
    tokens, Operation, ProxyRequest, StreamEvent, UpstreamError, UpstreamReply, Usage,
};
use kobo_store::{IdemClaim, ModelRecord, UsageRecord};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Native,
}

impl Endpoint {
    fn op(self) -> Operation {
        match self {
            Endpoint::Chat | Endpoint::Native => Operation::ChatCompletions,
            Endpoint::Completions => Operation::Completions,
            Endpoint::Embeddings => Operation::Embeddings,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat.completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Native => "ai.complete",
        }
    }
}

/// Idempotency keys keep their first answer this long.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Streams longer than this are not kept for idempotent replay.
const MAX_REPLAY_BYTES: usize = 4 * 1024 * 1024;

#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", request_body(content = Object, description = "OpenAI's chat completion request; unknown fields are passed to the upstream"), responses((status = 200, description = "OpenAI's chat completion, or text/event-stream when `stream` is true"), (status = 401), (status = 402), (status = 403), (status = 404), (status = 429), (status = 502), (status = 504)), security(("api_key" = [])))]
pub async fn chat_completions(
    State(s): State<AppState>,
    ConnectInfo(a): ConnectInfo<SocketAddr>,
    Extension(id): Extension<RequestId>,
    h: HeaderMap,
    RawBody(b): RawBody,
) -> Response {
    handle(s, Endpoint::Chat, a, id, h, b).await
}

#[utoipa::path(post, path = "/v1/completions", tag = "gateway", request_body(content = Object, description = "OpenAI's legacy completion request"), responses((status = 200, description = "OpenAI's completion, or text/event-stream when `stream` is true"), (status = 429)), security(("api_key" = [])))]
pub async fn completions(
    State(s): State<AppState>,
    ConnectInfo(a): ConnectInfo<SocketAddr>,
    Extension(id): Extension<RequestId>,
    h: HeaderMap,
    RawBody(b): RawBody,
) -> Response {
    handle(s, Endpoint::Completions, a, id, h, b).await
}

#[utoipa::path(post, path = "/v1/embeddings", tag = "gateway", request_body(content = Object, description = "OpenAI's embeddings request"), responses((status = 200, description = "OpenAI's embeddings list"), (status = 429)), security(("api_key" = [])))]
pub async fn embeddings(
    State(s): State<AppState>,
    ConnectInfo(a): ConnectInfo<SocketAddr>,
    Extension(id): Extension<RequestId>,
    h: HeaderMap,
    RawBody(b): RawBody,
) -> Response {
    handle(s, Endpoint::Embeddings, a, id, h, b).await
}

/// `POST /api/v1/ai/complete`: `{prompt, model?, max_tokens?, temperature?}`.
#[utoipa::path(post, path = "/api/v1/ai/complete", tag = "gateway", request_body(content = Object, description = "{prompt, model?, max_tokens?, temperature?}"), responses((status = 200, description = "{request_id, completion, usage, model, processing_time_ms}"), (status = 429)), security(("api_key" = []), ("session" = [])))]
pub async fn native_complete(
    State(s): State<AppState>,
    ConnectInfo(a): ConnectInfo<SocketAddr>,
    Extension(id): Extension<RequestId>,
    h: HeaderMap,
    RawBody(b): RawBody,
) -> Response {
    handle(s, Endpoint::Native, a, id, h, b).await
}

/// `GET /v1/models`: the models this key may use.
#[utoipa::path(get, path = "/v1/models", tag = "gateway", responses((status = 200, description = "the models this key may use, in OpenAI's list shape")), security(("api_key" = [])))]
pub async fn list_models(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let caller = match auth::authenticate(&state, &headers, addr.ip(), false).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let models = state.catalog.all();
    let mut names: Vec<&String> = models.keys().filter(|m| caller.may_use(m)).collect();
    names.sort();
    let data: Vec<Value> = names
        .into_iter()
        .map(|m| json!({"id": m, "object": "model", "created": models[m].updated_at / 1000, "owned_by": "kobo"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn handle(
    state: AppState,
    endpoint: Endpoint,
    addr: SocketAddr,
    id: RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    match prepare(&state, endpoint, addr, &headers, &body).await {
        Ok(Prepared::Replay(res)) => res,
        Ok(Prepared::Go(p)) => {
            let idem = p.idem.clone();
            let org = p.caller.tenant.org.id;
            match run(&state, *p, id, started).await {
                Ok(res) => res,
                Err(e) => {
                    if let Some(k) = idem {
                        if let Err(err) = state.store.idem_release(org, &k.key).await {
                            tracing::error!(error = %err, "An idempotency key could not be released.");
                        }
                    }
                    e.into_response()
                }
            }
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Clone)]
struct IdemKey {
    key: String,
}

struct Ready {
    endpoint: Endpoint,
    caller: GatewayCaller,
    body: Map<String, Value>,
    model: ModelRecord,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
    idem: Option<IdemKey>,
    ticket: Ticket,
}

enum Prepared {
    Replay(Response),
    Go(Box<Ready>),
}

fn invalid(msg: impl Into<String>, param: &str) -> ApiError {
    ApiError::unprocessable("invalid_request", msg).with_param(param)
}

/// The native body, as a chat request.
fn native_to_chat(v: Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let prompt = v
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`prompt` must be a string", "prompt"))?;
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        v.get("model")
            .cloned()
            .unwrap_or_else(|| json!(kobo_providers::MOCK_MODEL)),
    );
    chat.insert(
        "messages".into(),
        json!([{"role": "user", "content": prompt}]),
    );
    for k in ["max_tokens", "temperature"] {
        if let Some(x) = v.get(k) {
            chat.insert(k.into(), x.clone());
        }
    }
    Ok(chat)
}

async fn prepare(
    state: &AppState,
    endpoint: Endpoint,
    addr: SocketAddr,
    headers: &HeaderMap,
    raw: &Bytes,
) -> ApiResult<Prepared> {
    let caller =
        auth::authenticate(state, headers, addr.ip(), endpoint == Endpoint::Native).await?;
    let value: Value = parse_json(raw)?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "the request body must be a JSON object",
        ));
    };
    if endpoint == Endpoint::Native {
        body = native_to_chat(body)?;
    }
    let model_name = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`model` must be a string", "model"))?
        .to_string();
    let model = state.catalog.get(&model_name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("the model `{model_name}` does not exist"),
        )
        .with_param("model")
    })?;
    caller.check_model(&model_name)?;
    let stream = endpoint != Endpoint::Embeddings
        && endpoint != Endpoint::Native
        && body.get("stream").and_then(Value::as_bool) == Some(true);
    if body
        .get("stream")
        .is_some_and(|s| !s.is_boolean() && !s.is_null())
    {
        return Err(invalid("`stream` must be a boolean", "stream"));
    }
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    let max_out = match endpoint {
        Endpoint::Embeddings => 0,
        _ => {
            let asked = body
                .get("max_completion_tokens")
                .or_else(|| body.get("max_tokens"))
                .filter(|v| !v.is_null());
            match asked {
                None => {
                    // The plan's cap is what is reserved, so it is also what the upstream
                    // may produce: an answer can never outgrow its reservation.
                    let cap = caller.tenant.plan.max_tokens_per_request;
                    body.insert("max_tokens".into(), Value::from(cap));
                    cap
                }
                Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    invalid("`max_tokens` must be a positive integer", "max_tokens")
                })?,
            }
        }
    };

    // Idempotency: a repeat returns the first answer and is not billed again.
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1 to 255 visible characters",
                    )
                })?;
            let hash = hex::encode(
                Sha256::new()
                    .chain_update(endpoint.name())
                    .chain_update(b"\n")
                    .chain_update(raw)
                    .finalize(),
            );
            let org = caller.tenant.org.id;
            let now = state.clock.now_ms();
            match state
                .store
                .idem_claim(org, key, &hash, now, now + IDEMPOTENCY_TTL_MS)
                .await?
            {
                IdemClaim::Claimed => Some(IdemKey {
                    key: key.to_string(),
                }),
                IdemClaim::Running { request_hash } | IdemClaim::Done { request_hash, .. }
                    if request_hash != hash =>
                {
                    return Err(ApiError::unprocessable(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request body",
                    ));
                }
                IdemClaim::Running { .. } => {
                    return Err(ApiError::conflict(
                        "idempotency_in_progress",
                        "a request with this Idempotency-Key is still running; retry shortly",
                    )
                    .retry_after(1));
                }
                IdemClaim::Done {
                    status,
                    content_type,
                    body,
                    ..
                } => {
                    let mut res = Response::new(Body::from(body));
                    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                    if let Ok(ct) = HeaderValue::from_str(&content_type) {
                        res.headers_mut().insert(header::CONTENT_TYPE, ct);
                    }
                    res.headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    return Ok(Prepared::Replay(res));
                }
            }
        }
    };

    let prompt_tokens = tokens::count_prompt(&model.upstream_model, &body);
    let admit = AdmitRequest {
        tenant: &caller.tenant,
        key: caller.key.as_ref().map(|k| KeyLimits {
            id: k.id,
            max_requests_per_day: k.max_requests_per_day,
            requests_per_minute: k.requests_per_minute,
            tokens_per_minute: k.tokens_per_minute,
        }),
        estimate_tokens: prompt_tokens.saturating_add(max_out),
        now: state.clock.now(),
    };
    let ticket = match state.admission.admit(&admit).await {
        Ok(t) => t,
        Err(e) => {
            if let Some(k) = &idem {
                let _ = state.store.idem_release(caller.tenant.org.id, &k.key).await;
            }
            return Err(e);
        }
    };
    Ok(Prepared::Go(Box::new(Ready {
        endpoint,
        caller,
        body,
        model,
        stream,
        include_usage,
        prompt_tokens,
        idem,
        ticket,
    })))
}

/// The candidates in order: the model, then its fallbacks (that exist).
fn candidates(state: &AppState, model: &ModelRecord) -> Vec<ModelRecord> {
    let mut list = vec![model.clone()];
    list.extend(model.fallbacks.iter().filter_map(|f| state.catalog.get(f)));
    list
}

fn upstream_error(e: &UpstreamError) -> ApiError {
    let status = StatusCode::from_u16(e.suggested_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    match e {
        UpstreamError::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the model server did not answer in time",
        ),
        UpstreamError::Status { message, .. } if status.is_client_error() => {
            ApiError::new(status, "upstream_error", message.clone())
        }
        UpstreamError::Unsupported(m) => ApiError::bad_request("unsupported_request", m.clone()),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the model server failed to answer",
        ),
    }
}

/// Worth trying the next candidate: the upstream failed, not the request.
fn try_next(e: &UpstreamError) -> bool {
    e.is_retryable()
        || matches!(
            e,
            UpstreamError::Timeout | UpstreamError::Interrupted(_) | UpstreamError::Protocol(_)
        )
        || matches!(e, UpstreamError::Status { status, .. } if *status >= 500)
}

fn price(m: &ModelRecord, u: Usage) -> (i64, i64) {
    let kobo = cost_millikobo(u.prompt_tokens, m.input_price_per_1k_kobo)
        .and_then(|a| {
            cost_millikobo(u.completion_tokens, m.output_price_per_1k_kobo)
                .map(|b| a.0.saturating_add(b.0))
        })
        .unwrap_or(i64::MAX);
    // Upstream cost: micro-USD per 1K tokens × tokens / 1000, rounded half-up once per request.
    let micro = i128::from(m.input_cost_per_1k_micro_usd) * i128::from(u.prompt_tokens)
        + i128::from(m.output_cost_per_1k_micro_usd) * i128::from(u.completion_tokens);
    let usd = i64::try_from((micro + 500).div_euclid(1000)).unwrap_or(i64::MAX);
    (kobo, usd)
}

struct Meter<'a> {
    state: &'a AppState,
    ready: &'a Ready,
    id: &'a str,
    started: Instant,
}

impl Meter<'_> {
    fn record(
        &self,
        served: &ModelRecord,
        usage: Usage,
        status: u16,
        error: Option<&str>,
    ) -> UsageRecord {
        let now = self.state.clock.now();
        let billed = (200..300).contains(&status);
        let usage = if billed { usage } else { Usage::default() };
        let (cost, upstream_cost) = price(served, usage);
        UsageRecord {
            id: self.id.to_string(),
            org_id: self.ready.caller.tenant.org.id,
            workspace_id: self.ready.caller.workspace_id,
            api_key_id: self.ready.caller.key.as_ref().map(|k| k.id),
            user_id: self.ready.caller.user,
            endpoint: self.ready.endpoint.name().into(),
            model: self.ready.model.name.clone(),
            upstream: served.upstream.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_millikobo: cost,
            upstream_cost_micro_usd: upstream_cost,
            latency_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
            error_code: error.map(str::to_string),
            streamed: self.ready.stream,
            lagos_day: calendar::lagos_date(now).format("%Y-%m-%d").to_string(),
            created_at: now.timestamp_millis(),
        }
    }

    /// Journals the record (durable before the answer goes out) and settles the quota.
    async fn commit(&self, rec: &UsageRecord) -> ApiResult<()> {
        let journaled = self.state.journal.append(rec).await;
        self.state
            .admission
            .settle(
                &self.ready.ticket,
                rec,
                u64::try_from(self.state.clock.now_ms()).unwrap_or(0),
            )
            .await;
        journaled.map_err(|e| {
            tracing::error!(error = %e, "A usage record could not be journaled; the request is refused.");
            ApiError::unavailable("usage_journal_unavailable", "usage could not be recorded; the request was not billed", 5)
        })
    }
}

fn completion_text(endpoint: Endpoint, body: &Value) -> String {
    let mut out = String::new();
    for c in body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let piece = match endpoint {
            Endpoint::Completions => c.get("text"),
            _ => c.get("message").and_then(|m| m.get("content")),
        };
        if let Some(t) = piece.and_then(Value::as_str) {
            out.push_str(t);
        }
    }
    out
}

async fn run(
    state: &AppState,
    ready: Ready,
    id: RequestId,
    started: Instant,
) -> ApiResult<Response> {
    let meter = Meter {
        state,
        ready: &ready,
        id: &id.0,
        started,
    };
    let mut last_err = None;
    let mut reply = None;
    for m in candidates(state, &ready.model) {
        let Some(upstream) = state.catalog.upstream(&m.upstream) else {
            continue;
        };
        let mut body = ready.body.clone();
        body.insert("model".into(), Value::String(m.upstream_model.clone()));
        let mut fwd = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&id.0) {
            fwd.insert("x-request-id", v);
        }
        match upstream
            .call_with_headers(
                ProxyRequest::new(ready.endpoint.op(), body, ready.stream),
                fwd,
            )
            .await
        {
            Ok(r) => {
                reply = Some((m, r));
                break;
            }
            Err(e) => {
                tracing::warn!(upstream = %m.upstream, model = %m.name, error = %e, "An upstream call failed.");
                let next = try_next(&e);
                last_err = Some((m, e));
                if !next {
                    break;
                }
            }
        }
    }
    let Some((served, reply)) = reply else {
        let (m, e) = last_err.unwrap_or_else(|| {
            (
                ready.model.clone(),
                UpstreamError::Config("no upstream is configured for this model".into()),
            )
        });
        let mut err = upstream_error(&e);
        let rec = meter.record(&m, Usage::default(), err.status.as_u16(), Some(err.code));
        let _ = meter.commit(&rec).await;
        let mut h = axum::http::HeaderMap::new();
        ready.ticket.headers.apply(&mut h);
        err.headers = Some(Box::new(h));
        return Err(err);
    };

    match reply {
        UpstreamReply::Json { body, usage, .. } => {
            let usage = usage.unwrap_or_else(|| Usage {
                prompt_tokens: ready.prompt_tokens,
                completion_tokens: tokens::count_text(
                    &served.upstream_model,
                    &completion_text(ready.endpoint, &body),
                ),
            });
            let rec = meter.record(&served, usage, 200, None);
            meter.commit(&rec).await?;
            let out = shape(&ready, &id.0, body, usage, started);
            let text = out.to_string();
            if let Some(k) = &ready.idem {
                if let Err(e) = state
                    .store
                    .idem_complete(
                        ready.caller.tenant.org.id,
                        &k.key,
                        200,
                        "application/json",
                        &text,
                    )
                    .await
                {
                    tracing::error!(error = %e, "An idempotent answer could not be stored.");
                }
            }
            let mut res = Response::new(Body::from(text));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            ready.ticket.headers.apply(res.headers_mut());
            Ok(res)
        }
        UpstreamReply::Stream(upstream) => Ok(stream_response(
            state.clone(),
            ready,
            served,
            upstream,
            id,
            started,
        )),
    }
}

/// The final body: OpenAI's shape with the model name the client asked for, or the native one.
fn shape(ready: &Ready, id: &str, mut body: Value, usage: Usage, started: Instant) -> Value {
    if ready.endpoint == Endpoint::Native {
        return json!({
            "request_id": id,
            "completion": completion_text(Endpoint::Chat, &body),
            "usage": usage.to_json(),
            "model": ready.model.name,
            "processing_time_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    if let Some(o) = body.as_object_mut() {
        o.insert("model".into(), Value::String(ready.model.name.clone()));
        if !o.contains_key("usage") {
            o.insert("usage".into(), usage.to_json());
        }
    }
    body
}

enum StreamEnd {
    Completed,
    ClientGone,
    Failed(UpstreamError),
}

/// Streams the upstream's events to the client as they arrive. A tracked task pumps
/// them through a small channel; if the client leaves, the channel closes, the task
/// drops the upstream stream (closing that connection) and bills what was produced.
fn stream_response(
    state: AppState,
    ready: Ready,
    served: ModelRecord,
    mut upstream: kobo_providers::ChunkStream,
    id: RequestId,
    started: Instant,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(16);
    let mut headers = HeaderMap::new();
    ready.ticket.headers.apply(&mut headers);
    let rename = (served.upstream_model != ready.model.name).then(|| ready.model.name.clone());
    let tracker = state.tasks.clone();
    tracker.spawn(async move {
        let meter = Meter { state: &state, ready: &ready, id: &id.0, started };
        let mut text = String::new();
        let mut usage: Option<Usage> = None;
        let mut kept: Option<Vec<u8>> = ready.idem.as_ref().map(|_| Vec::new());
        let end = loop {
            let next = tokio::select! {
                n = upstream.next() => n,
                _ = tx.closed() => break StreamEnd::ClientGone,
            };
            match next {
                Some(Ok(StreamEvent::Chunk { json, text_delta, usage: u, usage_only })) => {
                    text.push_str(&text_delta);
                    if u.is_some() {
                        usage = u;
                    }
                    if usage_only && !ready.include_usage {
                        continue;
                    }
                    let payload = match &rename {
                        Some(name) => rename_model(&json, name),
                        None => json,
                    };
                    let mut frame = Vec::with_capacity(payload.len() + 8);
                    frame.extend_from_slice(b"data: ");
                    frame.extend_from_slice(&payload);
                    frame.extend_from_slice(b"\n\n");
                    if let Some(k) = kept.as_mut() {
                        k.extend_from_slice(&frame);
                        if k.len() > MAX_REPLAY_BYTES {
                            kept = None;
                        }
                    }
                    if tx.send(Ok(Bytes::from(frame))).await.is_err() {
                        break StreamEnd::ClientGone;
                    }
                }
                Some(Ok(StreamEvent::Done)) | None => break StreamEnd::Completed,
                Some(Err(e)) => break StreamEnd::Failed(e),
            }
        };
        drop(upstream); // closes the upstream connection at once if it is still open
        let produced = usage.unwrap_or_else(|| Usage {
            prompt_tokens: ready.prompt_tokens,
            completion_tokens: tokens::count_text(&served.upstream_model, &text),
        });
        let org = ready.caller.tenant.org.id;
        match end {
            StreamEnd::Completed => {
                let rec = meter.record(&served, produced, 200, None);
                match meter.commit(&rec).await {
                    Ok(()) => {
                        let done = Bytes::from_static(b"data: [DONE]\n\n");
                        if let (Some(k), Some(mut body)) = (&ready.idem, kept) {
                            body.extend_from_slice(&done);
                            let _ = state.store.idem_complete(org, &k.key, 200, "text/event-stream", &String::from_utf8_lossy(&body)).await;
                        } else if let Some(k) = &ready.idem {
                            let _ = state.store.idem_release(org, &k.key).await;
                        }
                        let _ = tx.send(Ok(done)).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Ok(error_event(&e))).await;
                        if let Some(k) = &ready.idem {
                            let _ = state.store.idem_release(org, &k.key).await;
                        }
                    }
                }
            }
            StreamEnd::ClientGone => {
                // The tokens already produced are billed.
                let rec = meter.record(&served, produced, 200, Some("client_disconnected"));
                let _ = meter.commit(&rec).await;
                tracing::info!(completion_tokens = produced.completion_tokens, "The client left mid-stream; the upstream call was cancelled and the tokens produced were billed.");
                if let Some(k) = &ready.idem {
                    let _ = state.store.idem_release(org, &k.key).await;
                }
            }
            StreamEnd::Failed(e) => {
                tracing::warn!(error = %e, "The upstream stream failed mid-answer.");
                let err = upstream_error(&e);
                let rec = meter.record(&served, Usage::default(), err.status.as_u16(), Some(err.code));
                let _ = meter.commit(&rec).await;
                let _ = tx.send(Ok(error_event(&err))).await;
                if let Some(k) = &ready.idem {
                    let _ = state.store.idem_release(org, &k.key).await;
                }
            }
        }
    }
    // The request's span (request_id, tenant) follows the stream into its task.
    .instrument(tracing::Span::current()));
    let mut res = Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ));
    res.headers_mut().extend(headers);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

fn rename_model(json: &Bytes, name: &str) -> Bytes {
    match serde_json::from_slice::<Value>(json) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("model".into(), Value::String(name.to_string()));
            }
            serde_json::to_vec(&v)
                .map(Bytes::from)
                .unwrap_or_else(|_| json.clone())
        }
        Err(_) => json.clone(),
    }
}

fn error_event(e: &ApiError) -> Bytes {
    Bytes::from(format!("data: {}\n\n", e.body()))
}
