//! Graph's throttling: each client (an application acting as itself, or a signed-in user)
//! has a token bucket holding `per_minute` requests, refilled continuously at `per_minute`
//! a minute. A request that finds the bucket empty gets 429 `TooManyRequests` with
//! `Retry-After` (whole seconds until a request is available again), as Graph answers and as
//! msgraph-sdk's retry handler expects.
//!
//! The buckets live in this process: with several nodes, each node allows the rate, so a
//! client spread over N nodes may reach N times it. Time comes from the directory's clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use latchkey_core::authz::Actor;

use crate::error::GraphError;

/// Above this many buckets, full (idle) ones are dropped; a full bucket is the same as none.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// The rate limit of the Graph surface; `Throttle::unlimited()` admits everything.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    per_minute: Option<u32>,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Throttle {
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// `per_minute` requests a minute per client; 0 means no limit.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute: (per_minute > 0).then_some(per_minute),
            buckets: Arc::default(),
        }
    }

    fn key(actor: &Actor) -> Option<String> {
        match actor {
            Actor::App { app_id, .. } => Some(format!("app:{app_id}")),
            Actor::User { id, .. } => Some(format!("user:{id}")),
            Actor::Operator { .. } => None,
        }
    }

    /// Takes one request from the actor's bucket, or says how long to wait.
    pub fn admit(&self, actor: &Actor, now: DateTime<Utc>) -> Result<(), GraphError> {
        let (Some(limit), Some(key)) = (self.per_minute, Self::key(actor)) else {
            return Ok(());
        };
        let capacity = f64::from(limit);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refill(*b, now, per_second, capacity) < capacity);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let tokens = refill(*bucket, now, per_second, capacity);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        *bucket = Bucket { tokens, at: now };
        let wait = ((1.0 - tokens) / per_second).ceil().max(1.0);
        // At most a minute: the bucket refills fully in one.
        let seconds = if wait >= 60.0 { 60 } else { wait as u32 };
        let mut e = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!(
                "Too many requests: this client may send {limit} requests a minute. Retry after {seconds} seconds."
            ),
        );
        e.retry_after = Some(seconds);
        Err(e)
    }
}

fn refill(b: Bucket, now: DateTime<Utc>, per_second: f64, capacity: f64) -> f64 {
    let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
    (b.tokens + elapsed * per_second).min(capacity)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use latchkey_core::authz::Channel;

    use super::*;

    fn app(id: &str) -> Actor {
        Actor::App {
            app_id: id.into(),
            display: id.into(),
            permissions: vec![],
            roles: vec![],
            channel: Channel::Graph,
        }
    }

    #[test]
    fn a_client_gets_its_minutes_worth_then_waits_for_the_refill() {
        let t = Throttle::per_minute(30);
        let now = Utc::now();
        for _ in 0..30 {
            t.admit(&app("a"), now).unwrap();
        }
        let e = t.admit(&app("a"), now).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "TooManyRequests");
        assert_eq!(e.retry_after, Some(2), "one request every two seconds");
        // Another client is not affected.
        t.admit(&app("b"), now).unwrap();
        // After the wait, one more.
        let later = now + Duration::seconds(2);
        t.admit(&app("a"), later).unwrap();
        assert!(t.admit(&app("a"), later).is_err());
    }

    #[test]
    fn no_limit_and_the_operator_are_never_throttled() {
        let now = Utc::now();
        let t = Throttle::unlimited();
        for _ in 0..1000 {
            t.admit(&app("a"), now).unwrap();
        }
        let t = Throttle::per_minute(1);
        let op = Actor::Operator {
            channel: Channel::Cli,
        };
        for _ in 0..10 {
            t.admit(&op, now).unwrap();
        }
    }
}
