//! `GET /metrics`: Prometheus text, answered only to the addresses `--metrics` allows (by default
//! the clinic's own network, so a port forward for patients at home does not publish it).

use super::ClientAddress;
use crate::config::MetricsAccess;
use crate::error::ApiError;
use crate::metrics::{
    self, ALERTS_UNWRITTEN, EMERGENCIES_OPEN, EMERGENCIES_UNACKNOWLEDGED, SEARCH_BEHIND,
    SEARCH_FAILING, SOCKETS,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::net::IpAddr;

pub(super) async fn metrics(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
) -> Result<impl IntoResponse, ApiError> {
    if !allowed(state.config.metrics, client) {
        return Err(ApiError::forbidden(match state.config.metrics {
            MetricsAccess::Off => "metrics are not served on this server (--metrics off)",
            _ => "metrics are served only to the clinic's network (see --metrics)",
        }));
    }
    let handle =
        metrics::handle().ok_or_else(|| ApiError::unavailable("metrics are not recorded"))?;
    // Levels are read when scraped, so they are right even after a restart or a CLI change.
    ::metrics::gauge!(SOCKETS).set(state.hub.socket_count() as f64);
    ::metrics::gauge!(ALERTS_UNWRITTEN).set(state.hub.alerts_in_flight().count() as f64);
    let (open, unacknowledged) = state.store.open_emergency_counts().await?;
    ::metrics::gauge!(EMERGENCIES_OPEN).set(open as f64);
    ::metrics::gauge!(EMERGENCIES_UNACKNOWLEDGED).set(unacknowledged as f64);
    let (behind, failing) = state.store.search_index_lag().await?;
    ::metrics::gauge!(SEARCH_BEHIND).set(behind as f64);
    ::metrics::gauge!(SEARCH_FAILING).set(if failing { 1.0 } else { 0.0 });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    ))
}

/// Whether `ip` may read the metrics (and `/readyz`'s free bytes) under `access`.
pub(super) fn allowed(access: MetricsAccess, ip: IpAddr) -> bool {
    match access {
        MetricsAccess::Off => false,
        MetricsAccess::Any => true,
        MetricsAccess::Lan => is_local_network(ip),
    }
}

/// Loopback, private (RFC 1918, unique local) and link-local addresses.
fn is_local_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local_network(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_access_admits_the_clinic_network_and_refuses_the_internet() {
        let lan = |text: &str| {
            allowed(
                MetricsAccess::Lan,
                text.parse().unwrap_or(IpAddr::from([0; 4])),
            )
        };
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.20",
            "169.254.3.4",
            "::1",
            "fd12::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(lan(inside), "{inside} is the clinic's network");
        }
        for outside in [
            "8.8.8.8",
            "172.32.0.1",
            "100.64.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!lan(outside), "{outside} is not the clinic's network");
        }
        assert!(!allowed(
            MetricsAccess::Off,
            "127.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
        assert!(allowed(
            MetricsAccess::Any,
            "8.8.8.8".parse().unwrap_or(IpAddr::from([0; 4]))
        ));
    }
}
