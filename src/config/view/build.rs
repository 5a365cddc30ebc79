//! Builds a [`ConfigView`] from the datafile document, reading it as the official Python SDK
//! reads it: the same lookups, the same "last one wins" for repeated ids and keys, and the
//! changes that SDK makes to the document while loading it (a typed audience's conditions
//! written as a string, `string`/`json` variables typed `json`, the "Everyone Else" variation
//! added to each feature-rollout experiment of its flag).

use super::conditions::audiences_string;
use super::json::{dumps, Json};
use super::{
    ConfigView, Datafile, ViewAttribute, ViewAudience, ViewEvent, ViewExperiment, ViewFeature,
    ViewVariable, ViewVariation,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where an experiment-shaped object stands in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Loc {
    /// `experiments[i]`
    Top(usize),
    /// `rollouts[r].experiments[i]`
    Rollout(usize, usize),
    /// `groups[g].experiments[i]`
    Group(usize, usize),
}

/// A string member, or empty.
fn text(value: &Json, key: &str) -> String {
    value.text(key).unwrap_or_default()
}

/// The entries of `list` by the string member `key`: for each distinct value, in order of first
/// appearance, the index of its last entry (a Python dict built in a loop).
fn last_by<'a>(list: &'a [Json], key: &str) -> Vec<(Option<&'a Json>, usize)> {
    let mut out: Vec<(Option<&'a Json>, usize)> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let k = item.get(key);
        match out.iter_mut().find(|(seen, _)| *seen == k) {
            Some((_, at)) => *at = i,
            None => out.push((k, i)),
        }
    }
    out
}

/// A flag variable as the view shows it.
fn variable(def: &Json, json_typed: bool) -> ViewVariable {
    let mut kind = text(def, "type");
    if json_typed && kind == "string" && def.get("subType").and_then(Json::as_str) == Some("json") {
        kind = "json".to_owned();
    }
    ViewVariable {
        id: text(def, "id"),
        key: text(def, "key"),
        kind,
        value: text(def, "defaultValue"),
    }
}

/// A flag's variables: by key (with defaults), and variable id → key.
struct FlagVariables {
    by_key: BTreeMap<String, ViewVariable>,
    key_of_id: HashMap<String, String>,
}

struct Builder<'a> {
    /// Audience id → name, for audience strings.
    audience_names: HashMap<String, String>,
    /// Experiment id → index of the (last) flag listing it.
    flag_of_experiment: HashMap<&'a str, usize>,
    flags: &'a [Json],
    /// Variables by flag key and by flag id (the last flag with a key or id wins).
    variables_by_flag_key: HashMap<String, FlagVariables>,
    variables_by_flag_id: HashMap<String, BTreeMap<String, ViewVariable>>,
    /// Variations the Python SDK adds to feature-rollout experiments while loading.
    added_variations: HashMap<Loc, Vec<Json>>,
}

impl Builder<'_> {
    fn variables(
        &self,
        experiment: &Json,
        variation: &Json,
        flag_id: Option<&str>,
    ) -> BTreeMap<String, ViewVariable> {
        let flag = experiment
            .get("id")
            .and_then(Json::as_str)
            .and_then(|id| self.flag_of_experiment.get(id))
            .and_then(|&i| self.flags.get(i));
        // A delivery rule's variations show the flag's defaults, whatever they set.
        if let Some(flag_id) = flag_id.filter(|id| !id.is_empty()) {
            return self
                .variables_by_flag_id
                .get(flag_id)
                .cloned()
                .unwrap_or_default();
        }
        let Some(flag) = flag else {
            return BTreeMap::new();
        };
        let Some(vars) = self.variables_by_flag_key.get(&text(flag, "key")) else {
            return BTreeMap::new();
        };
        let mut out = vars.by_key.clone();
        if variation.get("featureEnabled").is_some_and(Json::truthy) {
            for usage in variation.list("variables") {
                let Some(key) = usage
                    .get("id")
                    .and_then(Json::as_str)
                    .and_then(|id| vars.key_of_id.get(id))
                else {
                    continue;
                };
                if let Some(v) = out.get_mut(key) {
                    v.value = text(usage, "value");
                }
            }
        }
        out
    }

    fn experiment(&self, loc: Loc, experiment: &Json, flag_id: Option<&str>) -> ViewExperiment {
        let added = self
            .added_variations
            .get(&loc)
            .map_or(&[][..], Vec::as_slice);
        let mut variations_map = BTreeMap::new();
        for variation in experiment.list("variations").iter().chain(added) {
            let key = text(variation, "key");
            variations_map.insert(
                key.clone(),
                ViewVariation {
                    id: text(variation, "id"),
                    key,
                    feature_enabled: match variation.get("featureEnabled") {
                        Some(Json::Bool(b)) => Some(*b),
                        _ => None,
                    },
                    variables_map: self.variables(experiment, variation, flag_id),
                },
            );
        }
        ViewExperiment {
            id: text(experiment, "id"),
            key: text(experiment, "key"),
            audiences: audiences_string(experiment.get("audienceConditions"), &self.audience_names),
            variations_map,
        }
    }
}

pub(super) fn build(root: &Json, datafile: Datafile) -> ConfigView {
    let experiments = root.list("experiments");
    let groups = root.list("groups");
    let rollouts = root.list("rollouts");
    let flags = root.list("featureFlags");

    // Audiences: typed ones, then the legacy ones no typed one replaces.
    let typed = root.list("typedAudiences");
    let typed_ids: HashSet<Option<String>> = typed.iter().map(|a| a.text("id")).collect();
    let mut audiences: Vec<ViewAudience> = typed
        .iter()
        .map(|a| ViewAudience {
            id: text(a, "id"),
            name: a.text("name"),
            conditions: a.get("conditions").map(dumps).unwrap_or_default(),
        })
        .collect();
    audiences.extend(
        root.list("audiences")
            .iter()
            .filter(|a| {
                !typed_ids.contains(&a.text("id"))
                    && a.get("id").and_then(Json::as_str) != Some("$opt_dummy_audience")
            })
            .map(|a| ViewAudience {
                id: text(a, "id"),
                name: a.text("name"),
                conditions: a.text("conditions").unwrap_or_default(),
            }),
    );
    let audience_names: HashMap<String, String> = audiences
        .iter()
        .map(|a| (a.id.clone(), a.name.clone().unwrap_or_default()))
        .collect();

    // Experiment id → the object the Python SDK's id map ends with: top-level experiments,
    // then the rules of each rollout (the last rollout of a repeated id), then grouped
    // experiments (the last group of a repeated id).
    let mut by_id: HashMap<&str, (Loc, &Json)> = HashMap::new();
    for (i, e) in experiments.iter().enumerate() {
        if let Some(id) = e.get("id").and_then(Json::as_str) {
            by_id.insert(id, (Loc::Top(i), e));
        }
    }
    let rollout_by_id = last_by(rollouts, "id");
    for &(_, r) in &rollout_by_id {
        for (i, e) in rollouts
            .get(r)
            .map_or(&[][..], |r| r.list("experiments"))
            .iter()
            .enumerate()
        {
            if let Some(id) = e.get("id").and_then(Json::as_str) {
                by_id.insert(id, (Loc::Rollout(r, i), e));
            }
        }
    }
    for (_, g) in last_by(groups, "id") {
        for (i, e) in groups
            .get(g)
            .map_or(&[][..], |g| g.list("experiments"))
            .iter()
            .enumerate()
        {
            if let Some(id) = e.get("id").and_then(Json::as_str) {
                by_id.insert(id, (Loc::Group(g, i), e));
            }
        }
    }

    // What loading changes, for the last flag of each key: `string` variables of sub-type
    // json become `json`, and each feature-rollout experiment gets the flag's "Everyone Else"
    // variation (with the whole traffic left over).
    let mut json_typed: HashSet<usize> = HashSet::new();
    let mut added_variations: HashMap<Loc, Vec<Json>> = HashMap::new();
    for (_, f) in last_by(flags, "key") {
        json_typed.insert(f);
        let Some(flag) = flags.get(f) else { continue };
        let everyone_else = flag
            .get("rolloutId")
            .and_then(Json::as_str)
            .filter(|id| !id.is_empty())
            .and_then(|id| {
                rollout_by_id
                    .iter()
                    .find(|(k, _)| k.and_then(Json::as_str) == Some(id))
            })
            .and_then(|&(_, r)| rollouts.get(r))
            .and_then(|r| r.list("experiments").last())
            .and_then(|rule| rule.list("variations").first());
        let Some(ee) = everyone_else else { continue };
        let added = Json::Object(vec![
            ("id".to_owned(), ee.get("id").cloned().unwrap_or(Json::Null)),
            (
                "key".to_owned(),
                ee.get("key").cloned().unwrap_or(Json::Null),
            ),
            (
                "featureEnabled".to_owned(),
                Json::Bool(ee.get("featureEnabled").is_some_and(Json::truthy)),
            ),
            (
                "variables".to_owned(),
                Json::List(ee.list("variables").to_vec()),
            ),
        ]);
        for id in flag.list("experimentIds") {
            let Some(&(loc, e)) = id.as_str().and_then(|id| by_id.get(id)) else {
                continue;
            };
            if e.get("type").and_then(Json::as_str) == Some("fr") {
                added_variations.entry(loc).or_default().push(added.clone());
            }
        }
    }

    // Flag lookups: the flag of each experiment, and each flag's variables.
    let mut flag_of_experiment: HashMap<&str, usize> = HashMap::new();
    let mut variables_by_flag_key: HashMap<String, FlagVariables> = HashMap::new();
    let mut variables_by_flag_id: HashMap<String, BTreeMap<String, ViewVariable>> = HashMap::new();
    for (f, flag) in flags.iter().enumerate() {
        for id in flag.list("experimentIds") {
            if let Some(id) = id.as_str() {
                flag_of_experiment.insert(id, f);
            }
        }
        let mut vars = FlagVariables {
            by_key: BTreeMap::new(),
            key_of_id: HashMap::new(),
        };
        for def in flag.list("variables") {
            let v = variable(def, json_typed.contains(&f));
            vars.key_of_id.insert(v.id.clone(), v.key.clone());
            vars.by_key.insert(v.key.clone(), v);
        }
        variables_by_flag_id.insert(text(flag, "id"), vars.by_key.clone());
        variables_by_flag_key.insert(text(flag, "key"), vars);
    }

    let b = Builder {
        audience_names,
        flag_of_experiment,
        flags,
        variables_by_flag_key,
        variables_by_flag_id,
        added_variations,
    };

    // Experiments: top-level, then each group's.
    let mut experiments_map = BTreeMap::new();
    let mut experiments_by_id: HashMap<String, ViewExperiment> = HashMap::new();
    let all = experiments
        .iter()
        .enumerate()
        .map(|(i, e)| (Loc::Top(i), e))
        .chain(groups.iter().enumerate().flat_map(|(g, group)| {
            group
                .list("experiments")
                .iter()
                .enumerate()
                .map(move |(i, e)| (Loc::Group(g, i), e))
        }));
    for (loc, e) in all {
        let view = b.experiment(loc, e, None);
        experiments_by_id.insert(view.id.clone(), view.clone());
        experiments_map.insert(view.key.clone(), view);
    }

    // Flags.
    let mut features_map = BTreeMap::new();
    for flag in flags {
        let flag_id = text(flag, "id");
        let rollout_id = flag.get("rolloutId");
        let delivery_rules: Vec<ViewExperiment> = rollouts
            .iter()
            .enumerate()
            .find(|(_, r)| r.get("id") == rollout_id)
            .map(|(r, rollout)| {
                rollout
                    .list("experiments")
                    .iter()
                    .enumerate()
                    .map(|(i, e)| b.experiment(Loc::Rollout(r, i), e, Some(&flag_id)))
                    .collect()
            })
            .unwrap_or_default();
        let experiment_rules: Vec<ViewExperiment> = flag
            .list("experimentIds")
            .iter()
            .filter_map(|id| experiments_by_id.get(id.as_str()?).cloned())
            .collect();
        let experiments_map = experiment_rules
            .iter()
            .map(|e| (e.key.clone(), e.clone()))
            .collect();
        let key = text(flag, "key");
        let variables_map = b
            .variables_by_flag_key
            .get(&key)
            .map(|v| v.by_key.clone())
            .unwrap_or_default();
        features_map.insert(
            key.clone(),
            ViewFeature {
                id: flag_id,
                key,
                experiment_rules,
                delivery_rules,
                experiments_map,
                variables_map,
            },
        );
    }

    ConfigView {
        revision: text(root, "revision"),
        sdk_key: root.text("sdkKey").unwrap_or_default(),
        environment_key: root.text("environmentKey").unwrap_or_default(),
        attributes: root
            .list("attributes")
            .iter()
            .map(|a| ViewAttribute {
                id: text(a, "id"),
                key: text(a, "key"),
            })
            .collect(),
        audiences,
        events: root
            .list("events")
            .iter()
            .map(|e| ViewEvent {
                id: text(e, "id"),
                key: text(e, "key"),
                experiment_ids: e
                    .list("experimentIds")
                    .iter()
                    .map(|id| id.as_str().map_or_else(|| dumps(id), str::to_owned))
                    .collect(),
            })
            .collect(),
        experiments_map,
        features_map,
        datafile,
    }
}
