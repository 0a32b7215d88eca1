//! ClusterRole aggregation: a role with an `aggregationRule` holds the
//! rules of every ClusterRole its label selectors pick, transitively.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The effective rules of every ClusterRole, by name (see the module
/// documentation for aggregation).
pub(super) fn aggregate<'o>(
    cluster_roles: &BTreeMap<&'o str, &'o ClusterRole>,
) -> Vec<(&'o str, Vec<PolicyRule>)> {
    // The roles each aggregated role selects directly, in name order; empty
    // for an aggregation rule Kubernetes would refuse.
    let mut selects: HashMap<&str, Vec<&str>> = HashMap::new();
    let empty = BTreeMap::new();
    for (&name, role) in cluster_roles {
        let Some(rule) = &role.aggregation_rule else {
            continue;
        };
        let selectors = rule.cluster_role_selectors.as_deref().unwrap_or_default();
        let valid = !selectors.is_empty() && selectors.iter().all(selector_is_valid);
        let selected = if valid {
            cluster_roles
                .iter()
                .filter(|&(&other, other_role)| {
                    let labels = other_role.metadata.labels.as_ref().unwrap_or(&empty);
                    other != name && selectors.iter().any(|s| selector_matches(s, labels))
                })
                .map(|(&other, _)| other)
                .collect()
        } else {
            Vec::new()
        };
        selects.insert(name, selected);
    }

    cluster_roles
        .iter()
        .map(|(&name, role)| {
            if !selects.contains_key(name) {
                return (name, role.rules.clone().unwrap_or_default());
            }
            // Breadth-first over the selection graph; `seen` ends cycles.
            // Only roles without an aggregation rule bring rules: an
            // aggregated one is only the sum of what it selects.
            let mut rules = Vec::new();
            let mut seen = BTreeSet::from([name]);
            let mut queue = std::collections::VecDeque::from([name]);
            while let Some(current) = queue.pop_front() {
                for &next in selects.get(current).into_iter().flatten() {
                    if !seen.insert(next) {
                        continue;
                    }
                    if selects.contains_key(next) {
                        queue.push_back(next);
                    } else if let Some(selected) = cluster_roles.get(next) {
                        rules.extend(selected.rules.iter().flatten().cloned());
                    }
                }
            }
            (name, rules)
        })
        .collect()
}

/// Whether Kubernetes' `LabelSelectorAsSelector` would accept the selector.
pub(super) fn selector_is_valid(selector: &LabelSelector) -> bool {
    selector.match_expressions.iter().flatten().all(|req| {
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => !values.is_empty(),
            "Exists" | "DoesNotExist" => values.is_empty(),
            _ => false,
        }
    })
}

/// A valid selector against a label set: every requirement must hold, and a
/// selector without requirements matches everything.
pub(super) fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_hold = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    labels_hold
        && selector.match_expressions.iter().flatten().all(|req| {
            let value = labels.get(&req.key);
            let mut values = req.values.iter().flatten();
            match req.operator.as_str() {
                "In" => value.is_some_and(|v| values.any(|x| x == v)),
                "NotIn" => value.is_none_or(|v| !values.any(|x| x == v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}
