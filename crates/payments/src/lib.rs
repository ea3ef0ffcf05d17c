//! kobo-payments
