use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use kobo_providers::{
    ChunkStream, Operation, ProxyRequest, StreamEvent, Upstream, UpstreamError, UpstreamKind,
    UpstreamReply, UpstreamSettings,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running mock server; killed when dropped.
pub struct MockServer {
    _child: Child,
    pub address: String,
}

impl MockServer {
    pub async fn start() -> MockServer {
        MockServer::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> MockServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kobo-mock-upstream"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start kobo-mock-upstream");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout)
            .lines()
            .next_line()
            .await
            .expect("read the first line")
            .expect("a first line");
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        MockServer {
            _child: child,
            address,
        }
    }

    /// `http://ADDRESS/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    pub fn settings(&self, kind: UpstreamKind) -> UpstreamSettings {
        let mut settings = UpstreamSettings::new("test", kind, self.base_url());
        settings.first_byte_timeout = Duration::from_secs(20);
        settings.total_timeout = Duration::from_secs(30);
        settings
    }

    pub fn upstream(&self, kind: UpstreamKind) -> Upstream {
        Upstream::new(self.settings(kind)).unwrap()
    }

    /// `GET /stats[?test_id=]`
    pub async fn stats(&self, test_id: Option<&str>) -> Value {
        let mut url = format!("http://{}/stats", self.address);
        if let Some(id) = test_id {
            url.push_str(&format!("?test_id={id}"));
        }
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

pub fn chat(model: &str, text: &str, stream: bool) -> ProxyRequest {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
    });
    ProxyRequest::new(
        Operation::ChatCompletions,
        body.as_object().unwrap().clone(),
        stream,
    )
}

pub fn request(op: Operation, body: Value, stream: bool) -> ProxyRequest {
    ProxyRequest::new(op, body.as_object().unwrap().clone(), stream)
}

pub fn expect_json(reply: UpstreamReply) -> (u16, Value, Option<kobo_providers::Usage>) {
    match reply {
        UpstreamReply::Json {
            status,
            body,
            usage,
        } => (status, body, usage),
        UpstreamReply::Stream(_) => panic!("expected a JSON answer, got a stream"),
    }
}

pub fn expect_stream(reply: UpstreamReply) -> ChunkStream {
    match reply {
        UpstreamReply::Stream(stream) => stream,
        other => panic!("expected a stream, got {other:?}"),
    }
}

/// Every item of a stream, until it ends.
pub async fn collect(stream: ChunkStream) -> Vec<Result<StreamEvent, UpstreamError>> {
    stream.collect().await
}

/// Parsed JSON of a chunk event.
pub fn chunk_json(event: &StreamEvent) -> Value {
    match event {
        StreamEvent::Chunk { json, .. } => serde_json::from_slice(json).unwrap(),
        StreamEvent::Done => panic!("Done is not a chunk"),
    }
}

/// The concatenated text deltas of a list of events.
pub fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Chunk { text_delta, .. } => text_delta.as_str(),
            StreamEvent::Done => "",
        })
        .collect()
}

pub fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}
