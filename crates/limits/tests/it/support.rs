//! Helpers: limiters under test, the clock, and a private `redis-server` to kill.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kobo_limits::{Limiter, LocalLimiter, RedisLimiter};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The machine's shared Redis; tests only touch their own random namespace in it.
pub const SHARED_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn namespace() -> String {
    format!("test-limits-{:016x}", rand::random::<u64>())
}

pub fn local() -> Arc<dyn Limiter> {
    Arc::new(LocalLimiter::new())
}

pub async fn shared_redis() -> Arc<dyn Limiter> {
    Arc::new(
        RedisLimiter::connect(SHARED_REDIS_URL, &namespace(), Duration::from_secs(5))
            .await
            .expect("Redis must run on 127.0.0.1:6379"),
    )
}

/// The wall clock in ms; tests add offsets to it to move time forward.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A throw-away `redis-server` (no persistence) that tests may kill and restart.
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on the same port and returns once it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server must be on PATH");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Ready to accept connections") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            ready,
            Ok(true),
            "redis-server on port {} did not start",
            self.port
        );
        // Keep draining its log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}
