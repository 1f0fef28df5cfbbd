//! What the router knows at one moment: the deployments (name, port, counters), how live and
//! mirror traffic are split, and the accepted keys. Built once per change and swapped whole, so
//! a request reads one consistent set; everything a request passes on is prepared here.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::local::counters::{CounterRegistry, DeploymentCounters};
use crate::target::TrafficMap;

/// One deployment as the router forwards to it.
#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) name: String,
    pub(crate) port: u16,
    /// `azureml-model-deployment: <name>` on every answer (`None` for a name that is not a
    /// valid header value; the local target's names are `blue` and `green`).
    pub(crate) name_header: Option<HeaderValue>,
    /// `Host: 127.0.0.1:<port>` of the forwarded request.
    pub(crate) host: HeaderValue,
    pub(crate) counters: Arc<DeploymentCounters>,
}

/// Where each deployment listens and how traffic is split.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    deployments: Vec<Deployment>,
    /// Live traffic: (index into `deployments`, exclusive upper slot), slots 0..100.
    live: Vec<(usize, u32)>,
    /// Mirror traffic: (index, percent).
    mirror: Option<(usize, u32)>,
    /// Accepted bearer keys.
    keys: Vec<String>,
}

impl Routes {
    /// Routes from the checked traffic maps; each deployment counts into `counters`.
    pub(crate) fn new(
        deployments: Vec<(String, u16)>,
        traffic: &TrafficMap,
        mirror: &TrafficMap,
        keys: Vec<String>,
        counters: &CounterRegistry,
    ) -> Self {
        let deployments: Vec<Deployment> = deployments
            .into_iter()
            .map(|(name, port)| Deployment {
                name_header: HeaderValue::from_str(&name).ok(),
                host: HeaderValue::from_str(&format!("127.0.0.1:{port}"))
                    .unwrap_or(HeaderValue::from_static("127.0.0.1")),
                counters: counters.of(&name),
                name,
                port,
            })
            .collect();
        let index = |name: &str| deployments.iter().position(|d| d.name == name);
        let mut live = Vec::new();
        let mut upto = 0u32;
        for (name, &percent) in traffic {
            if let (Some(i), true) = (index(name), percent > 0) {
                upto = upto.saturating_add(percent);
                live.push((i, upto));
            }
        }
        let mirror = mirror
            .iter()
            .find(|(_, p)| **p > 0)
            .and_then(|(name, &p)| index(name).map(|i| (i, p)));
        Self {
            deployments,
            live,
            mirror,
            keys,
        }
    }

    /// The deployment a pin header names (compared as bytes: nothing is allocated).
    pub(crate) fn by_name(&self, name: &[u8]) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.name.as_bytes() == name)
    }

    /// The deployment live traffic slot `slot` (0..100) goes to.
    pub(crate) fn weighted(&self, slot: u32) -> Option<&Deployment> {
        let (i, _) = self.live.iter().find(|(_, upto)| slot < *upto)?;
        self.deployments.get(*i)
    }

    /// The mirror deployment and its percent, if any.
    pub(crate) fn mirror(&self) -> Option<(&Deployment, u32)> {
        let (i, percent) = self.mirror?;
        Some((self.deployments.get(i)?, percent))
    }

    /// `Authorization: Bearer <key>` against either key, in constant time per key.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .and_then(|v| v.strip_prefix(b"Bearer "))
        else {
            return false;
        };
        self.keys.iter().fold(false, |ok, key| {
            ok | constant_time_eq(given, key.as_bytes())
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u32)]) -> TrafficMap {
        entries.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    }

    #[test]
    fn weights_split_every_hundred_requests_exactly() {
        let routes = Routes::new(
            vec![("blue".into(), 1), ("green".into(), 2)],
            &map(&[("blue", 90), ("green", 10)]),
            &TrafficMap::new(),
            vec![],
            &CounterRegistry::new(1),
        );
        let mut green = 0;
        for sequence in 0u64..100 {
            let slot = u32::try_from(sequence * 37 % 100).unwrap();
            if routes.weighted(slot).is_some_and(|d| d.name == "green") {
                green += 1;
            }
        }
        assert_eq!(green, 10);
        let green = routes.by_name(b"green").unwrap();
        assert_eq!(green.host, HeaderValue::from_static("127.0.0.1:2"));
        assert_eq!(green.name_header, Some(HeaderValue::from_static("green")));
        assert!(routes.by_name(b"gree").is_none());
    }

    #[test]
    fn keys_must_match_exactly() {
        let routes = Routes::new(
            vec![],
            &TrafficMap::new(),
            &TrafficMap::new(),
            vec!["primary".to_owned(), "second".to_owned()],
            &CounterRegistry::new(1),
        );
        let mut headers = HeaderMap::new();
        assert!(!routes.authorized(&headers));
        for (value, ok) in [
            ("Bearer second", true),
            ("Bearer primary", true),
            ("Bearer primar", false),
            ("bearer primary", false),
            ("Bearer primary ", false),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(routes.authorized(&headers), ok, "{value}");
        }
    }
}
