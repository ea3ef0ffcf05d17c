//! Settings in layers: defaults → `kobo.toml` → `KOBO_*` environment (which wins).
//! Unknown keys in the file are an error naming the key; `validate` fails fast at start.

use kobo_providers::UpstreamKind;
use kobo_store::ModelRecord;
use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    File { path: String, message: String },
    #[error("invalid value for {name}: {message}")]
    Value { name: &'static str, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// On disk (fdatasync, group-committed) before the answer is released.
    Fsync,
    /// In the kernel's page cache: survives a killed process, not a power cut.
    Os,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimiterFailure {
    /// Redis unreachable → 503 `rate_limiter_unavailable`.
    Closed,
    /// Redis unreachable → enforce this replica's in-process limits instead.
    OpenLocal,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    pub kind: UpstreamKind,
    #[serde(default)]
    pub base_url: String,
    /// Name of the environment variable holding the upstream's API key.
    pub api_key_env: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_first_byte_timeout_ms")]
    pub first_byte_timeout_ms: u64,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
}

fn default_timeout_ms() -> u64 {
    60_000
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_first_byte_timeout_ms() -> u64 {
    30_000
}
fn default_retries() -> u32 {
    2
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    pub upstream: String,
    pub upstream_model: Option<String>,
    #[serde(default)]
    pub input_price_per_1k_kobo: i64,
    #[serde(default)]
    pub output_price_per_1k_kobo: i64,
    #[serde(default)]
    pub input_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub output_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

impl ModelConfig {
    pub fn to_record(&self, now_ms: i64) -> ModelRecord {
        ModelRecord {
            name: self.name.clone(),
            upstream: self.upstream.clone(),
            upstream_model: self
                .upstream_model
                .clone()
                .unwrap_or_else(|| self.name.clone()),
            input_price_per_1k_kobo: self.input_price_per_1k_kobo,
            output_price_per_1k_kobo: self.output_price_per_1k_kobo,
            input_cost_per_1k_micro_usd: self.input_cost_per_1k_micro_usd,
            output_cost_per_1k_micro_usd: self.output_cost_per_1k_micro_usd,
            fallbacks: self.fallbacks.clone(),
            updated_at: now_ms,
        }
    }
}

/// The file's shape; every field optional so the environment can fill the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_namespace: Option<String>,
    public_url: Option<String>,
    usage_journal_durability: Option<Durability>,
    rate_limiter_failure: Option<LimiterFailure>,
    operator_email: Option<String>,
    operator_password: Option<String>,
    session_ttl_secs: Option<u64>,
    log_format: Option<String>,
    paystack_secret_key: Option<String>,
    paystack_base_url: Option<String>,
    flutterwave_secret_key: Option<String>,
    flutterwave_secret_hash: Option<String>,
    flutterwave_base_url: Option<String>,
    plans_file: Option<PathBuf>,
    #[serde(default)]
    seller: Option<SellerSettings>,
    #[serde(default)]
    upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    models: Vec<ModelConfig>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub public_url: String,
    pub usage_journal_durability: Durability,
    pub rate_limiter_failure: LimiterFailure,
    pub operator_email: Option<String>,
    pub operator_password: Option<SecretString>,
    pub session_ttl_secs: u64,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    pub paystack_secret_key: Option<SecretString>,
    pub paystack_base_url: String,
    pub flutterwave_secret_key: Option<SecretString>,
    pub flutterwave_secret_hash: Option<SecretString>,
    pub flutterwave_base_url: String,
    pub upstreams: Vec<UpstreamConfig>,
    pub models: Vec<ModelConfig>,
    /// `KOBO_TEST_NOW`: the clock starts at this instant (tests and demos only).
    pub test_now: Option<chrono::DateTime<chrono::Utc>>,
    /// Body limit on account routes.
    pub max_body_bytes: usize,
    /// Prefix of every Redis key (`KOBO_REDIS_NAMESPACE`), so deployments can share a server.
    pub redis_namespace: String,
    /// The operator as printed on invoices (`[seller]`, `KOBO_SELLER_*`).
    pub seller: SellerSettings,
    /// A plan catalog to load on the first start instead of the shipped one
    /// (`plans_file`, `KOBO_PLANS_FILE`); afterwards plans are edited through the API.
    pub plans_file: Option<PathBuf>,
}

/// The seller printed on invoices.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SellerSettings {
    /// `KOBO_SELLER_NAME`.
    #[serde(default = "default_seller_name")]
    pub name: String,
    /// `KOBO_SELLER_ADDRESS`: lines separated by `;`.
    #[serde(default)]
    pub address: Vec<String>,
    /// `KOBO_SELLER_TIN`: tax identification number.
    #[serde(default)]
    pub tin: Option<String>,
    /// `KOBO_SELLER_EMAIL`.
    #[serde(default)]
    pub email: Option<String>,
}

fn default_seller_name() -> String {
    "Kobo".into()
}

impl Default for SellerSettings {
    fn default() -> Self {
        Self {
            name: default_seller_name(),
            address: Vec::new(),
            tin: None,
            email: None,
        }
    }
}

impl Settings {
    /// Defaults only: embedded SQLite in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: sqlite_url(&data_dir),
            data_dir,
            redis_url: None,
            public_url: "http://127.0.0.1:8080".into(),
            usage_journal_durability: Durability::Fsync,
            rate_limiter_failure: LimiterFailure::Closed,
            operator_email: None,
            operator_password: None,
            session_ttl_secs: 3600,
            log_format: "json".into(),
            paystack_secret_key: None,
            paystack_base_url: "https://api.paystack.co".into(),
            flutterwave_secret_key: None,
            flutterwave_secret_hash: None,
            flutterwave_base_url: "https://api.flutterwave.com/v3".into(),
            upstreams: Vec::new(),
            models: Vec::new(),
            test_now: None,
            max_body_bytes: 1024 * 1024,
            redis_namespace: "default".into(),
            seller: SellerSettings::default(),
            plans_file: None,
        }
    }

    /// Loads the layers. `config` is an explicit file (must exist); otherwise
    /// `./kobo.toml` is read when present.
    pub fn load(
        config: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let file = match config {
            Some(p) => read_file(p)?,
            None if Path::new("kobo.toml").exists() => read_file(Path::new("kobo.toml"))?,
            None => FileSettings::default(),
        };
        let data_dir = env("KOBO_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./kobo-data"));
        let mut s = Settings::with_data_dir(data_dir);
        let pick = |name: &str, from_file: Option<String>| env(name).or(from_file);

        if let Some(v) = pick("KOBO_LISTEN", file.listen) {
            s.listen = v.parse().map_err(|e| SettingsError::Value {
                name: "KOBO_LISTEN",
                message: format!("{v}: {e}"),
            })?;
        }
        if let Some(v) = pick("KOBO_DATABASE_URL", file.database_url) {
            s.database_url = v;
        }
        s.redis_url = pick("KOBO_REDIS_URL", file.redis_url).filter(|v| !v.is_empty());
        if let Some(v) = pick("KOBO_REDIS_NAMESPACE", file.redis_namespace) {
            s.redis_namespace = v;
        }
        if let Some(v) = pick("KOBO_PUBLIC_URL", file.public_url) {
            s.public_url = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = env("KOBO_USAGE_JOURNAL_DURABILITY") {
            s.usage_journal_durability = match v.as_str() {
                "fsync" => Durability::Fsync,
                "os" => Durability::Os,
                other => {
                    return Err(SettingsError::Value {
                        name: "KOBO_USAGE_JOURNAL_DURABILITY",
                        message: format!("`{other}` (use fsync or os)"),
                    })
                }
            };
        } else if let Some(d) = file.usage_journal_durability {
            s.usage_journal_durability = d;
        }
        if let Some(v) = env("KOBO_RATE_LIMITER_FAILURE") {
            s.rate_limiter_failure = match v.as_str() {
                "closed" => LimiterFailure::Closed,
                "open-local" => LimiterFailure::OpenLocal,
                other => {
                    return Err(SettingsError::Value {
                        name: "KOBO_RATE_LIMITER_FAILURE",
                        message: format!("`{other}` (use closed or open-local)"),
                    })
                }
            };
        } else if let Some(f) = file.rate_limiter_failure {
            s.rate_limiter_failure = f;
        }
        s.plans_file = env("KOBO_PLANS_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or(file.plans_file);
        s.operator_email = pick("KOBO_OPERATOR_EMAIL", file.operator_email);
        s.operator_password =
            pick("KOBO_OPERATOR_PASSWORD", file.operator_password).map(SecretString::from);
        if let Some(v) = pick(
            "KOBO_SESSION_TTL_SECS",
            file.session_ttl_secs.map(|n| n.to_string()),
        ) {
            s.session_ttl_secs = v.parse().map_err(|e| SettingsError::Value {
                name: "KOBO_SESSION_TTL_SECS",
                message: format!("{v}: {e}"),
            })?;
        }
        if let Some(v) = pick("KOBO_LOG_FORMAT", file.log_format) {
            s.log_format = v;
        }
        s.paystack_secret_key =
            pick("KOBO_PAYSTACK_SECRET_KEY", file.paystack_secret_key).map(SecretString::from);
        if let Some(v) = pick("KOBO_PAYSTACK_BASE_URL", file.paystack_base_url) {
            s.paystack_base_url = v.trim_end_matches('/').to_string();
        }
        s.flutterwave_secret_key = pick("KOBO_FLUTTERWAVE_SECRET_KEY", file.flutterwave_secret_key)
            .map(SecretString::from);
        s.flutterwave_secret_hash =
            pick("KOBO_FLUTTERWAVE_SECRET_HASH", file.flutterwave_secret_hash)
                .map(SecretString::from);
        if let Some(v) = pick("KOBO_FLUTTERWAVE_BASE_URL", file.flutterwave_base_url) {
            s.flutterwave_base_url = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = env("KOBO_TEST_NOW") {
            let t = chrono::DateTime::parse_from_rfc3339(&v).map_err(|e| SettingsError::Value {
                name: "KOBO_TEST_NOW",
                message: format!("{v}: {e} (an RFC 3339 instant)"),
            })?;
            s.test_now = Some(t.with_timezone(&chrono::Utc));
        }
        if let Some(seller) = file.seller {
            s.seller = seller;
        }
        if let Some(v) = env("KOBO_SELLER_NAME") {
            s.seller.name = v;
        }
        if let Some(v) = env("KOBO_SELLER_ADDRESS") {
            s.seller.address = v
                .split(';')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
        }
        if let Some(v) = env("KOBO_SELLER_TIN") {
            s.seller.tin = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("KOBO_SELLER_EMAIL") {
            s.seller.email = Some(v).filter(|v| !v.is_empty());
        }
        s.upstreams = file.upstreams;
        s.models = file.models;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if kobo_store::Backend::from_url(&self.database_url).is_none() {
            return Err(SettingsError::Value {
                name: "KOBO_DATABASE_URL",
                message: "use sqlite://… or postgres://…".into(),
            });
        }
        if self.operator_email.is_some() != self.operator_password.is_some() {
            return Err(SettingsError::Value {
                name: "KOBO_OPERATOR_EMAIL",
                message: "set both KOBO_OPERATOR_EMAIL and KOBO_OPERATOR_PASSWORD, or neither"
                    .into(),
            });
        }
        if self.session_ttl_secs == 0 {
            return Err(SettingsError::Value {
                name: "KOBO_SESSION_TTL_SECS",
                message: "must be positive".into(),
            });
        }
        for m in &self.models {
            if !self.upstreams.iter().any(|u| u.name == m.upstream) && m.upstream != "mock" {
                return Err(SettingsError::Value {
                    name: "models",
                    message: format!("model `{}` names unknown upstream `{}`", m.name, m.upstream),
                });
            }
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| SettingsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("kobo.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kobo.example.toml");
        let s = Settings::load(Some(&path), &|_| None).unwrap();
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.usage_journal_durability, Durability::Fsync);

        // Its commented-out [seller] table is valid too once uncommented.
        let text = std::fs::read_to_string(&path).unwrap();
        let seller: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [seller]"))
            .take_while(|l| l.starts_with("# "))
            .map(|l| {
                format!(
                    "{}\n",
                    l.trim_start_matches("# ").split("  ").next().unwrap_or("")
                )
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kobo.toml");
        std::fs::write(&file, seller).unwrap();
        let s = Settings::load(Some(&file), &|_| None).unwrap();
        assert_eq!(s.seller.address.len(), 2);
        assert!(s.seller.tin.is_some());
    }

    #[test]
    fn environment_wins_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kobo.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"http://x\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == "KOBO_LISTEN").then(|| "127.0.0.1:9001".to_string());
        let s = Settings::load(Some(&file), &env).unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.public_url, "http://x");

        std::fs::write(&file, "listne = \"oops\"\n").unwrap();
        let err = Settings::load(Some(&file), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listne"), "{err}");
    }
}
