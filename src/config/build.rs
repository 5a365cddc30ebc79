//! Builds a [`ProjectConfig`] from a parsed datafile: resolves every reference to an index,
//! compiles audiences, applies the official SDKs' load-time rules (typed audiences over legacy
//! ones, feature-rollout injection, holdout scoping) and types every variable value once.

use super::variables::{RawValue, VariableTable};
use super::*;
use crate::audience::{
    audience_tree, with_legacy_conditions, Audience, Condition, Program, ProgramStore, ReadTree,
    Slots,
};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);
use crate::datafile::conditions::{Cond, Items, LegacyConditions, RawCondition, Shape};
use crate::datafile::model::{self, DocumentLists, Text};

/// An empty map with room for `n` entries (the indexes are filled once, their sizes known).
fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, Default::default())
}

/// A config string: `s` copied, in place when short.
fn small(s: &str) -> SmallStr {
    SmallStr::new(s)
}

struct Builder<'d> {
    audiences: Vec<Audience>,
    variations: Vec<Variation>,
    /// The variable values each variation sets, by variation index.
    usages: Vec<&'d [model::VariableUsage<'d>]>,
    rules: Vec<Rule>,
    audience_index: FastMap<SmallStr, u32>,
    /// Where each audience's conditions are read from, by audience index.
    sources: Vec<AudienceSource<'d>>,
    /// The trees of the audiences an `and`, `or` or `not` of a rule's conditions names, each
    /// read once (most rules name one audience alone, whose program they share).
    trees: FastMap<u32, Arc<Tree<Condition>>>,
    slots: Slots,
    /// The rules' and audiences' programs' nodes and conditions.
    programs: ProgramStore,
    /// The datafile's lists its runs and condition trees name (see [`model::Run`]).
    lists: &'d DocumentLists<'d>,
}

/// Where an audience's conditions are read from.
#[derive(Clone, Copy)]
enum AudienceSource<'d> {
    Legacy(&'d LegacyConditions<'d>),
    Typed(&'d RawCondition<'d>),
}

impl<'d> Builder<'d> {
    /// The id of rule `idx`.
    fn rule_id(&self, idx: u32) -> SmallStr {
        self.rules
            .get(idx as usize)
            .map_or_else(SmallStr::default, |r| r.id.clone())
    }

    fn add_variations(&mut self, list: &'d [model::Variation<'d>]) -> List<u32, 4> {
        list.iter()
            .map(|v| {
                self.variations.push(Variation {
                    id: small(&v.id),
                    key: small(&v.key),
                    feature_enabled: v.feature_enabled.unwrap_or(false),
                });
                self.usages.push(v.variables.of(&self.lists.usages));
                (self.variations.len() - 1) as u32
            })
            .collect()
    }

    /// Resolves traffic ranges against the rule's own variations (the last variation with a
    /// given id wins, as in the official SDKs' id maps).
    fn traffic(
        &self,
        variations: &[u32],
        ranges: &[model::TrafficRange],
    ) -> List<Range<Option<u32>>, 4> {
        ranges
            .iter()
            .map(|r| Range {
                end: r.end_of_range,
                entity: if r.entity_id.is_empty() {
                    None
                } else {
                    variations.iter().rev().copied().find(|&v| {
                        self.variations
                            .get(v as usize)
                            .is_some_and(|var| var.id == *r.entity_id)
                    })
                },
            })
            .collect()
    }

    /// The tree of audience `at`'s conditions, read on first use.
    fn audience_tree(&mut self, at: u32) -> Option<Arc<Tree<Condition>>> {
        if let Some(tree) = self.trees.get(&at) {
            return Some(Arc::clone(tree));
        }
        let slots = &mut self.slots;
        let tree = match *self.sources.get(at as usize)? {
            AudienceSource::Typed(raw) => audience_tree(raw.root_in(&self.lists.conditions), slots),
            // Read once already, when the audience was compiled.
            AudienceSource::Legacy(conditions) => {
                with_legacy_conditions(conditions, &self.lists.conditions, |raw| {
                    audience_tree(raw, slots)
                })
                .ok()?
            }
        };
        let tree = Arc::new(tree);
        self.trees.insert(at, Arc::clone(&tree));
        Some(tree)
    }

    /// The program of the conditions of `audienceConditions` when present, else of
    /// `audienceIds` (an `or`); `None` (everyone qualifies) for an empty list. Conditions that
    /// are one audience (the usual `["or", id]`) share that audience's program; others are
    /// flattened with each audience inlined and every `and` or `or` of one operand replaced
    /// by that operand.
    fn matcher(&mut self, conditions: Option<&RawCondition>, ids: &[Text<'_>]) -> Option<Program> {
        // Looked up as a config string: comparing one with a `&str` key would check UTF-8.
        let index = |b: &Self, id: &str| b.audience_index.get(&small(id)).copied();
        let alone = |b: &mut Self, id: &str| match index(b, id)
            .and_then(|at| b.audiences.get(at as usize))
        {
            Some(audience) => audience.program.clone(),
            None => Program::new_in(&Tree::Unknown, &mut b.programs),
        };
        let root = conditions.map(|c| c.root_in(&self.lists.conditions));
        let tree = match root.map(|root| (root, root.shape())) {
            Some((_, Shape::List(items))) if items.is_empty() => return None,
            Some((raw, Shape::List(items))) => match lone_operand(items) {
                Some(id) => return Some(alone(self, id)),
                None => self.rule_tree(raw),
            },
            Some((_, Shape::Str(id))) => return Some(alone(self, id)),
            Some((raw, _)) => self.rule_tree(raw),
            None => match ids {
                [] => return None,
                [id] => return Some(alone(self, id)),
                ids => Tree::Or(ids.iter().map(|id| self.shared(index(self, id))).collect()),
            },
        };
        Some(Program::new_in(&tree.simplified(), &mut self.programs))
    }

    /// Audience `at` as a shared subtree (unknown when there is none).
    fn shared(&mut self, at: Option<u32>) -> Tree<Condition> {
        match at.and_then(|at| self.audience_tree(at)) {
            Some(tree) => Tree::Shared(tree),
            None => Tree::Unknown,
        }
    }

    /// The tree of a rule's conditions, each audience id inlined as its shared tree.
    fn rule_tree(&mut self, raw: Cond) -> Tree<Condition> {
        Tree::from_raw_with(raw, &mut |node| match node.shape() {
            Shape::Str(id) => {
                let at = self.audience_index.get(&small(id)).copied();
                self.shared(at)
            }
            _ => Tree::Unknown,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn push_rule(
        &mut self,
        kind: RuleKind,
        id: &str,
        key: &str,
        layer_id: &str,
        status: &str,
        variations: &'d [model::Variation<'d>],
        traffic: &[model::TrafficRange],
        audience_conditions: Option<&RawCondition>,
        audience_ids: &[Text<'_>],
    ) -> u32 {
        let variation_idx = self.add_variations(variations);
        let traffic = self.traffic(&variation_idx, traffic);
        let matcher = self.matcher(audience_conditions, audience_ids);
        self.rules.push(Rule {
            id: small(id),
            key: small(key),
            layer_id: small(layer_id),
            kind,
            running: status == "Running",
            bucketable: !key.trim().is_empty(),
            short_id: ShortId::new(id.as_bytes()),
            variations: variation_idx,
            traffic,
            matcher,
            whitelist: FastMap::default(),
            group: None,
            cmab: false,
            feature_rollout: false,
            targeted_delivery: false,
            exclude_targeted_deliveries: false,
            local_holdouts: Vec::new(),
        });
        (self.rules.len() - 1) as u32
    }

    fn push_experiment(&mut self, e: &'d model::Experiment<'d>, group: Option<u32>) -> u32 {
        let idx = self.push_rule(
            RuleKind::Experiment,
            &e.id,
            &e.key,
            &e.layer_id,
            &e.status,
            e.variations.of(&self.lists.variations),
            &e.traffic_allocation,
            e.audience_conditions.as_ref(),
            &e.audience_ids,
        );
        let variations = &self.variations;
        if let Some(rule) = self.rules.get_mut(idx as usize) {
            rule.group = group;
            rule.cmab = e.cmab.as_ref().is_some_and(|c| !c.is_null());
            rule.feature_rollout = e.kind.as_deref() == Some("fr");
            rule.targeted_delivery = e.kind.as_deref() == Some("td");
            rule.whitelist = e
                .forced_variations
                .iter()
                .map(|(user, key)| {
                    let var = rule.variations.iter().copied().find(|&v| {
                        variations
                            .get(v as usize)
                            .is_some_and(|var| var.key == **key)
                    });
                    (small(user), var)
                })
                .collect();
        }
        idx
    }
}

/// The config of datafile `d`, read from `document`.
pub(super) fn build(
    d: model::Datafile,
    document: &Arc<String>,
) -> Result<ProjectConfig, DatafileError> {
    let d = &d;
    // Attributes.
    let attributes: Vec<AttributeDef> = d
        .attributes
        .iter()
        .map(|a| AttributeDef {
            id: small(&a.id),
            key: small(&a.key),
        })
        .collect();
    let mut attribute_index = map_with_capacity(attributes.len());
    for (i, a) in attributes.iter().enumerate() {
        // A key listed twice resolves to its last entry, as in the official SDKs.
        attribute_index.insert(a.key.clone(), i as u32);
    }

    // The rule and variation tables are sized up front: they are large, and growing them
    // would copy every rule built so far.
    let grouped = d.groups.iter().flat_map(|g| &g.experiments);
    let delivery = d
        .rollouts
        .iter()
        .flat_map(|r| r.experiments.of(&d.lists.rollout_rules));
    let holdouts = d.holdouts.iter().chain(&d.local_holdouts);
    let rule_count = d.experiments.len()
        + grouped.clone().count()
        + delivery.clone().count()
        + holdouts.clone().count();
    let variation_count = d
        .experiments
        .iter()
        .chain(grouped)
        .map(|e| e.variations.len());
    let variation_count: usize = variation_count
        .chain(delivery.map(|e| e.variations.len()))
        .chain(holdouts.map(|h| h.variations.len()))
        .sum();
    // The audiences' programs, then the rules'.
    let mut programs = ProgramStore::with_capacity(d.typed_audiences.len() + rule_count);
    let mut read = ReadTree::default();

    // Audiences: legacy first, then typed audiences replacing legacy ones with the same id.
    let mut slots = Slots::default();
    slots.slot(crate::value::BUCKETING_ID_ATTRIBUTE);
    let mut audiences: Vec<Audience> =
        Vec::with_capacity(d.audiences.len() + d.typed_audiences.len());
    let mut sources: Vec<AudienceSource> = Vec::with_capacity(audiences.capacity());
    let mut audience_index: FastMap<SmallStr, u32> =
        map_with_capacity(d.audiences.len() + d.typed_audiences.len());
    // A legacy audience that a typed audience replaces is never read (as in the official SDKs).
    let typed_ids: FastMap<&str, ()> = d
        .typed_audiences
        .iter()
        .map(|a| (a.id.as_str(), ()))
        .collect();
    // Each audience joins the list, or replaces the one before it with the same id.
    let mut add = |audience: Audience, source| match audience_index.entry(audience.id.clone()) {
        std::collections::hash_map::Entry::Occupied(at) => {
            let at = *at.get() as usize;
            if let Some(slot) = audiences.get_mut(at) {
                *slot = audience;
            }
            if let Some(slot) = sources.get_mut(at) {
                *slot = source;
            }
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(audiences.len() as u32);
            audiences.push(audience);
            sources.push(source);
        }
    };
    let arena = &d.lists.conditions;
    let mut compile = |id: &str, name: &str, raw: Cond| {
        Audience::compile_with(id, name, raw, &mut slots, &mut programs, &mut read)
    };
    for (i, a) in d.audiences.iter().enumerate() {
        if typed_ids.contains_key(a.id.as_str()) {
            continue;
        }
        let audience =
            with_legacy_conditions(&a.conditions, arena, |raw| compile(&a.id, &a.name, raw))
                .map_err(|reason| DatafileError::Conditions {
                    path: format!("audiences[{i}].conditions"),
                    reason,
                })?;
        add(audience, AudienceSource::Legacy(&a.conditions));
    }
    for a in &d.typed_audiences {
        add(
            compile(&a.id, &a.name, a.conditions.root_in(arena)),
            AudienceSource::Typed(&a.conditions),
        );
    }

    let mut b = Builder {
        audiences,
        variations: Vec::with_capacity(variation_count),
        usages: Vec::with_capacity(variation_count),
        rules: Vec::with_capacity(rule_count),
        audience_index,
        sources,
        trees: FastMap::default(),
        slots,
        programs,
        lists: &d.lists,
    };

    // Experiments, delivery rules and grouped experiments. Later ids overwrite earlier ones in
    // the id index, in the order the official SDKs build theirs.
    let mut rule_index: FastMap<SmallStr, u32> = map_with_capacity(rule_count);
    for e in &d.experiments {
        let idx = b.push_experiment(e, None);
        rule_index.insert(b.rule_id(idx), idx);
    }
    // Each rollout's delivery rules, which are consecutive in the rule table.
    let mut rollouts: FastMap<&str, std::ops::Range<u32>> = map_with_capacity(d.rollouts.len());
    for r in &d.rollouts {
        let first = b.rules.len() as u32;
        for e in r.experiments.of(&d.lists.rollout_rules) {
            let idx = b.push_rule(
                RuleKind::Delivery,
                &e.id,
                &e.key,
                &e.layer_id,
                &e.status,
                e.variations.of(&d.lists.variations),
                &e.traffic_allocation,
                e.audience_conditions.as_ref(),
                &e.audience_ids,
            );
            rule_index.insert(b.rule_id(idx), idx);
        }
        // A rollout id listed twice names the last rollout, as in the official SDKs' id maps.
        rollouts.insert(r.id.as_str(), first..b.rules.len() as u32);
    }
    let mut groups = Vec::with_capacity(d.groups.len());
    for g in &d.groups {
        let group_idx = groups.len() as u32;
        groups.push(Group {
            id: small(&g.id),
            short_id: ShortId::new(g.id.as_bytes()),
            policy: small(&g.policy),
            traffic: g
                .traffic_allocation
                .iter()
                .map(|r| Range {
                    end: r.end_of_range,
                    entity: small(&r.entity_id),
                })
                .collect(),
        });
        let gate = (g.policy == "random").then_some(group_idx);
        for e in &g.experiments {
            let idx = b.push_experiment(e, gate);
            rule_index.insert(b.rule_id(idx), idx);
        }
    }

    // Holdouts: running global ones apply to every flag; running local ones to the rules they
    // list.
    let mut global_holdouts = Vec::new();
    for h in &d.holdouts {
        if h.status != "Running" {
            continue;
        }
        global_holdouts.push(push_holdout(&mut b, h));
    }
    for h in &d.local_holdouts {
        let Some(included) = &h.included_rules else {
            log::warn!(target: "decisive", "local holdout {} has no includedRules; skipped", h.id);
            continue;
        };
        if h.status != "Running" {
            continue;
        }
        let idx = push_holdout(&mut b, h);
        for rule_id in included {
            for rule in b.rules.iter_mut() {
                if rule.kind != RuleKind::Holdout && rule.id == **rule_id {
                    rule.local_holdouts.push(idx);
                }
            }
        }
    }

    // The segments the audiences name, in audience order: only when some audience compiled a
    // segment condition are their trees read for them.
    let mut segments: Vec<SmallStr> = Vec::new();
    let segment_audiences = if b.slots.has_segments() {
        0..b.audiences.len() as u32
    } else {
        0..0
    };
    for at in segment_audiences {
        let Some(tree) = b.audience_tree(at) else {
            continue;
        };
        tree.for_each_leaf(&mut |c| {
            if let Some(s) = c.segment() {
                if !segments.iter().any(|x| **x == *s) {
                    segments.push(small(s));
                }
            }
        });
    }
    b.slots.built();
    let slots = std::mem::take(&mut b.slots);

    // Every rule and audience is built: its program reads the shared lists now.
    let lists = std::mem::take(&mut b.programs).finish();
    let rule_programs = b.rules.iter_mut().filter_map(|r| r.matcher.as_mut());
    for program in rule_programs.chain(b.audiences.iter_mut().map(|a| &mut a.program)) {
        program.attach(&lists);
    }

    // Every raw variable value as a range of the document, where it is read as written; a
    // value a reading decoded goes to the table's pool instead.
    let usage_values = b.usages.iter().flat_map(|usages| usages.iter());
    let mut pool = String::new();
    let mut raw_ranges: Vec<RawValue> = Vec::with_capacity(usage_values.count());
    let base = document.as_ptr() as usize;
    let mut push_raw = |value: &model::RawText<'_>, ranges: &mut Vec<RawValue>| {
        let (written, escaped) = value.as_written();
        let at = (written.as_ptr() as usize).wrapping_sub(base);
        let range = |start: usize| RawValue {
            start: start as u32,
            end: (start + written.len()) as u32,
            escaped,
            pooled: false,
        };
        ranges.push(
            if at <= document.len() && written.len() <= document.len() - at {
                range(at)
            } else {
                let start = pool.len();
                pool.push_str(written);
                RawValue {
                    pooled: true,
                    ..range(start)
                }
            },
        );
    };
    // Per variation: the index in raw_ranges of its first value (its values follow in order).
    let first_usage: Vec<u32> = b
        .usages
        .iter()
        .map(|usages| {
            let first = raw_ranges.len() as u32;
            for u in *usages {
                push_raw(&u.value, &mut raw_ranges);
            }
            first
        })
        .collect();
    // Every flag's defaults, one flag after another.
    let mut defaults: Vec<RawValue> =
        Vec::with_capacity(d.feature_flags.iter().map(|f| f.variables.len()).sum());
    for f in &d.feature_flags {
        for v in f.variables.of(&d.lists.variables) {
            push_raw(&v.default_value, &mut defaults);
        }
    }
    let mut defaults_left = defaults.as_slice();
    // Room for every flag's sets: the defaults, the no-map values and at most one per
    // variation of its rules, each of every variable of the flag.
    let entries = d.feature_flags.iter().map(|f| {
        let experiments = f
            .experiment_ids
            .iter()
            .filter_map(|id| rule_index.get(&small(id)));
        let deliveries = rollouts.get(f.rollout_id.as_str()).cloned().unwrap_or(0..0);
        let variations: usize = experiments
            .copied()
            .chain(deliveries)
            .filter_map(|r| b.rules.get(r as usize))
            .map(|r| r.variations.len())
            .sum();
        (2 + variations) * f.variables.len()
    });
    let set_count = 2 * d.feature_flags.len() + b.variations.len();
    let mut table = VariableTable::new(
        Arc::clone(document),
        pool,
        d.feature_flags.iter().map(|f| f.variables.len()).sum(),
        entries.sum(),
        set_count,
    );
    // Every flag's variable sets, one flag after another, and each flag's range of them.
    let mut set_spans: Vec<(u32, u32)> = Vec::with_capacity(set_count);
    // Every flag's lists, one flag after another; each flag keeps its part of each.
    let mut variation_sets: Vec<(u32, u32)> = Vec::with_capacity(b.variations.len());
    let mut flag_variations: Vec<u32> = Vec::with_capacity(b.variations.len());
    // The flag's variable definitions, while its sets are made.
    let mut variable_defs: Vec<VariableDef> = Vec::new();

    // Flags.
    let mut flags = Vec::with_capacity(d.feature_flags.len());
    let mut rule_list: Vec<u32> = Vec::with_capacity(
        d.feature_flags
            .iter()
            .map(|f| f.experiment_ids.len())
            .sum::<usize>()
            + b.rules.len(),
    );
    // Where each flag key is listed last: a flag listed again later under the same key is
    // never decided (the key finds the later one), and the official SDKs build its
    // load-time changes (feature-rollout injection) only for the one the key finds.
    let mut last_of_key: FastMap<&str, usize> = map_with_capacity(d.feature_flags.len());
    for (i, f) in d.feature_flags.iter().enumerate() {
        last_of_key.insert(f.key.as_str(), i);
    }
    let repeated_flag_keys = last_of_key.len() != d.feature_flags.len();
    for (position, f) in d.feature_flags.iter().enumerate() {
        let shadowed = last_of_key.get(f.key.as_str()) != Some(&position);
        // The flag's rules go straight into the config's rule list, where it reads them.
        let start = rule_list.len();
        rule_list.extend(
            f.experiment_ids
                .iter()
                .filter_map(|id| rule_index.get(&small(id)).copied()),
        );
        let mid = rule_list.len();
        if !f.rollout_id.is_empty() {
            if let Some(rules) = rollouts.get(f.rollout_id.as_str()) {
                rule_list.extend(rules.clone());
            }
        }
        let rules = RuleSpan {
            start: start as u32,
            experiments: (mid - start) as u32,
            deliveries: (rule_list.len() - mid) as u32,
        };
        let (experiment_rules, delivery_rules) = rule_list
            .get(start..)
            .unwrap_or_default()
            .split_at(mid - start);

        // Feature rollouts: the everyone-else variation joins each `fr` experiment, taking the
        // traffic the experiment does not allocate.
        let everyone_else = delivery_rules
            .last()
            .filter(|_| !shadowed)
            .and_then(|&r| b.rules.get(r as usize))
            .and_then(|r| r.variations.first().copied());
        if let Some(ee) = everyone_else {
            for &r in experiment_rules {
                if let Some(rule) = b.rules.get_mut(r as usize) {
                    if rule.feature_rollout {
                        rule.variations.push(ee);
                        rule.traffic.push(Range {
                            end: crate::bucketing::MAX_TRAFFIC_VALUE,
                            entity: Some(ee),
                        });
                    }
                }
            }
        }

        let first_variation = flag_variations.len();
        for &r in experiment_rules.iter().chain(delivery_rules.iter()) {
            let Some(rule) = b.rules.get(r as usize) else {
                continue;
            };
            for &v in &rule.variations {
                let id = b.variations.get(v as usize).map(|x| &x.id);
                let seen = flag_variations
                    .get(first_variation..)
                    .unwrap_or_default()
                    .iter()
                    .any(|&s| b.variations.get(s as usize).map(|x| &x.id) == id);
                if !seen {
                    flag_variations.push(v);
                }
            }
        }

        variable_defs.clear();
        variable_defs.extend(
            f.variables
                .of(&d.lists.variables)
                .iter()
                .map(|v| VariableDef {
                    id: small(&v.id),
                    key: small(&v.key),
                    kind: VariableType::from_datafile(&v.kind, v.sub_type.as_deref()),
                }),
        );
        let variables = variable_defs.as_slice();
        let (defaults, rest) = defaults_left
            .split_at_checked(f.variables.len())
            .unwrap_or((defaults_left, &[]));
        defaults_left = rest;
        let default_of = |i: usize| defaults.get(i).copied();
        // Whether no two of the flag's variables share an id.
        let distinct_ids = variables.iter().enumerate().all(|(i, v)| {
            variables
                .get(..i)
                .is_some_and(|before| before.iter().all(|w| w.id != v.id))
        });
        let key_base = table.keys_len();
        for v in variables {
            table.push_key(v.key.clone());
        }
        let first_set = set_spans.len();
        set_spans.push(typed_set(&mut table, key_base, variables, |i, _| {
            default_of(i)
        }));
        set_spans.push(typed_set(&mut table, key_base, variables, |_, _| None));
        let first_variation_set = variation_sets.len();
        let rule_variations = experiment_rules
            .iter()
            .chain(delivery_rules.iter())
            .filter_map(|&r| b.rules.get(r as usize))
            .flat_map(|r| r.variations.iter().copied());
        for v in rule_variations {
            let Some(var) = b.variations.get(v as usize) else {
                continue;
            };
            let flag_sets = variation_sets.get(first_variation_set..);
            if !var.feature_enabled || flag_sets.unwrap_or_default().iter().any(|(x, _)| *x == v) {
                continue;
            }
            let usages = b.usages.get(v as usize).copied().unwrap_or_default();
            // A variation usually gives the flag's variables in their order, each once: the
            // value of variable `i` is then its `i`th.
            let in_order = distinct_ids
                && usages.len() == variables.len()
                && usages.iter().zip(variables).all(|(u, def)| def.id == *u.id);
            // In order, the values are the variation's run of ranges as they are.
            let run = first_usage.get(v as usize).and_then(|&first| {
                raw_ranges.get(first as usize..first as usize + variables.len())
            });
            let set = match run.filter(|_| in_order) {
                Some(values) => table.push_set(
                    variables
                        .iter()
                        .zip(values)
                        .zip(key_base..)
                        .map(|((def, &raw), key)| (key, Some(raw), def.kind)),
                ),
                None => typed_set(&mut table, key_base, variables, |i, def| {
                    // The last value the variation gives the variable, else its default.
                    match usages.iter().rposition(|u| def.id == *u.id) {
                        Some(at) => first_usage
                            .get(v as usize)
                            .and_then(|&first| raw_ranges.get(first as usize + at))
                            .copied(),
                        None => default_of(i),
                    }
                }),
            };
            variation_sets.push((v, (set_spans.len() - first_set) as u32));
            set_spans.push(set);
        }

        flags.push(Flag {
            rules,
            id: small(&f.id),
            key: small(&f.key),
            rollout_id: small(&f.rollout_id),
            flag_variations: Span::since(&flag_variations, first_variation),
            variable_sets: Span::since(&set_spans, first_set),
            variation_sets: Span::since(&variation_sets, first_variation_set),
        });
    }
    // The sets are made once the table is complete, each sharing it.
    let table = Arc::new(table);
    let variable_sets: Vec<Variables> = set_spans
        .iter()
        .map(|&span| Variables::new(&table, span))
        .collect();

    let events: Vec<EventDef> = d
        .events
        .iter()
        .map(|e| EventDef {
            id: small(&e.id),
            key: small(&e.key),
            experiment_ids: e.experiment_ids.iter().map(|x| small(x)).collect(),
        })
        .collect();
    let mut event_index = map_with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        event_index.insert(e.key.clone(), i as u32);
    }

    let flag_index = index::FlagIndex::new(&flags);
    let odp = d.integrations.iter().find(|i| i.key == "odp");
    let (cores, traffic) = cores(&b.rules);

    Ok(ProjectConfig {
        id: NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed),
        slots,
        version: small(&d.version),
        revision: small(&d.revision),
        account_id: small(&d.account_id),
        project_id: small(&d.project_id),
        sdk_key: d.sdk_key.as_deref().map(small),
        environment_key: d.environment_key.as_deref().map(small),
        anonymize_ip: d.anonymize_ip,
        bot_filtering: d.bot_filtering,
        send_flag_decisions: d.send_flag_decisions,
        region: if d
            .region
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("EU"))
        {
            Region::Eu
        } else {
            Region::Us
        },
        attributes,
        attribute_index,
        audiences: b.audiences,
        audience_index: b.audience_index,
        rules: b.rules,
        cores,
        traffic,
        rule_list,
        rule_index,
        variations: b.variations,
        groups,
        flags,
        variation_sets,
        variable_sets,
        flag_variations,
        flag_index,
        repeated_flag_keys,
        events,
        event_index,
        global_holdouts,
        odp_host: odp.and_then(|o| o.host.as_deref()).map(small),
        odp_public_key: odp.and_then(|o| o.public_key.as_deref()).map(small),
        segments,
        view: Default::default(),
    })
}

/// The second element of a list of two strings whose first is `"and"` or `"or"` (a rule's
/// usual `["or", id]`).
fn lone_operand<'r>(mut items: Items<'r, '_>) -> Option<&'r str> {
    let (Some(op), Some(operand), None) = (items.next(), items.next(), items.next()) else {
        return None;
    };
    match (op.shape(), operand.shape()) {
        (Shape::Str(op), Shape::Str(id)) if op == "and" || op == "or" => Some(id),
        _ => None,
    }
}

/// The core record of each rule, and the traffic table the records point into.
fn cores(rules: &[Rule]) -> (Vec<RuleCore>, Vec<Range<Option<u32>>>) {
    let mut traffic = Vec::with_capacity(rules.iter().map(|r| r.traffic.len()).sum());
    let cores = rules
        .iter()
        .map(|rule| {
            let terms = rule.matcher.as_ref().map(Program::term_set);
            let first = rule
                .traffic
                .first()
                .filter(|r| r.end >= crate::bucketing::MAX_TRAFFIC_VALUE);
            let bits = [
                (rule.running, RuleCore::RUNNING),
                (rule.bucketable, RuleCore::BUCKETABLE),
                (rule.cmab, RuleCore::CMAB),
                (rule.targeted_delivery, RuleCore::TARGETED_DELIVERY),
                (rule.group.is_some(), RuleCore::GROUPED),
                (!rule.whitelist.is_empty(), RuleCore::WHITELIST),
                (!rule.local_holdouts.is_empty(), RuleCore::LOCAL_HOLDOUTS),
                (matches!(terms, Some(Some(_))), RuleCore::TERMS),
                (matches!(terms, Some(None)), RuleCore::MATCHER),
                (first.is_some(), RuleCore::COVERS_ALL),
                (
                    first.is_some_and(|r| r.entity.is_none()),
                    RuleCore::COVERS_ALL_NONE,
                ),
            ];
            let core = RuleCore {
                terms: terms.flatten().unwrap_or_default(),
                short_id: rule.short_id,
                traffic_start: traffic.len() as u32,
                traffic_len: rule.traffic.len() as u32,
                first_entity: first.and_then(|r| r.entity).unwrap_or(0),
                flags: bits
                    .iter()
                    .filter(|(on, _)| *on)
                    .fold(0, |flags, (_, bit)| flags | bit),
            };
            traffic.extend_from_slice(&rule.traffic);
            core
        })
        .collect();
    (cores, traffic)
}

/// Adds a set typing every variable of a flag (`defs`, whose keys are the table's from
/// `key_base`) to `table`, `value_of` giving each one's raw value as a range of the table's
/// pool.
fn typed_set(
    table: &mut VariableTable,
    key_base: u32,
    defs: &[VariableDef],
    value_of: impl Fn(usize, &VariableDef) -> Option<RawValue>,
) -> (u32, u32) {
    table.push_set(
        defs.iter()
            .enumerate()
            .map(|(i, v)| (key_base + i as u32, value_of(i, v), v.kind)),
    )
}

fn push_holdout<'d>(b: &mut Builder<'d>, h: &'d model::Holdout<'d>) -> u32 {
    let idx = push_holdout_rule(b, h);
    if let Some(rule) = b.rules.get_mut(idx as usize) {
        rule.exclude_targeted_deliveries = h.exclude_targeted_deliveries;
    }
    idx
}

fn push_holdout_rule<'d>(b: &mut Builder<'d>, h: &'d model::Holdout<'d>) -> u32 {
    b.push_rule(
        RuleKind::Holdout,
        &h.id,
        &h.key,
        "",
        &h.status,
        h.variations.of(&b.lists.variations),
        &h.traffic_allocation,
        h.audience_conditions.as_ref(),
        &h.audience_ids,
    )
}
