//! The simulator's in-memory state.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::flutterwave::FlwTxn;
use crate::paystack::PsTxn;
use crate::webhooks::Delivery;
use crate::SimConfig;

/// The first id handed out: 2^53 + 1, so clients that read ids through a float break
/// in tests rather than in production.
const FIRST_PAYSTACK_ID: u64 = 9_007_199_254_740_993;
const FIRST_FLUTTERWAVE_ID: u64 = 9_007_199_254_750_001;
const FIRST_REFUND_ID: u64 = 3_000_001;
const FIRST_CUSTOMER_ID: u64 = 180_000_001;

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    /// For webhook deliveries.
    pub(crate) http: reqwest::Client,
    pub(crate) store: Mutex<Store>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: SimConfig) -> AppState {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        AppState(Arc::new(Shared {
            config,
            http,
            store: Mutex::new(Store::new()),
        }))
    }
}

/// A customer, one per e-mail address.
#[derive(Clone)]
pub(crate) struct Customer {
    pub(crate) id: u64,
    pub(crate) code: String,
}

/// An authorization issued by a successful simulated payment.
#[derive(Clone)]
pub(crate) struct IssuedAuthorization {
    pub(crate) email: String,
    pub(crate) json: serde_json::Value,
}

pub(crate) struct Store {
    next_paystack_id: u64,
    next_flutterwave_id: u64,
    next_refund_id: u64,
    next_customer_id: u64,
    /// Paystack transactions by reference.
    pub(crate) transactions: HashMap<String, PsTxn>,
    /// Paystack access code → reference.
    pub(crate) access_codes: HashMap<String, String>,
    /// Issued authorization codes.
    pub(crate) authorizations: HashMap<String, IssuedAuthorization>,
    customers: HashMap<String, Customer>,
    /// Flutterwave transactions by `tx_ref`.
    pub(crate) flw: HashMap<String, FlwTxn>,
    /// Flutterwave id → `tx_ref`.
    pub(crate) flw_ids: HashMap<u64, String>,
    /// Every webhook delivery, in order (`n` = index + 1).
    pub(crate) webhooks: Vec<Delivery>,
}

impl Store {
    fn new() -> Store {
        Store {
            next_paystack_id: FIRST_PAYSTACK_ID,
            next_flutterwave_id: FIRST_FLUTTERWAVE_ID,
            next_refund_id: FIRST_REFUND_ID,
            next_customer_id: FIRST_CUSTOMER_ID,
            transactions: HashMap::new(),
            access_codes: HashMap::new(),
            authorizations: HashMap::new(),
            customers: HashMap::new(),
            flw: HashMap::new(),
            flw_ids: HashMap::new(),
            webhooks: Vec::new(),
        }
    }

    pub(crate) fn next_paystack_id(&mut self) -> u64 {
        let id = self.next_paystack_id;
        self.next_paystack_id += 1;
        id
    }

    pub(crate) fn next_flutterwave_id(&mut self) -> u64 {
        let id = self.next_flutterwave_id;
        self.next_flutterwave_id += 1;
        id
    }

    pub(crate) fn next_refund_id(&mut self) -> u64 {
        let id = self.next_refund_id;
        self.next_refund_id += 1;
        id
    }

    /// The customer for `email`, created on first use.
    pub(crate) fn customer(&mut self, email: &str) -> Customer {
        let key = email.to_ascii_lowercase();
        if let Some(c) = self.customers.get(&key) {
            return c.clone();
        }
        let customer = Customer {
            id: self.next_customer_id,
            code: format!("CUS_{}", crate::reply::random_code(15)),
        };
        self.next_customer_id += 1;
        self.customers.insert(key, customer.clone());
        customer
    }
}
