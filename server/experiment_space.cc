#include "server/experiment_space.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/rng.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"

namespace trainyard::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// Values are carried as google.protobuf.Value, whose numbers are doubles:
// integer ranges beyond this would not survive the trip.
constexpr int64_t kMaxExactInt = int64_t{1} << 53;

// One resolved path step: a field, and the element index for a repeated one.
struct Step {
  const FieldDescriptor* field = nullptr;
  std::optional<int> index;
};

// A path resolved against the descriptors: which root, the steps, and, when
// the path ends at a oneof's name, that oneof (then `steps` stops before it).
struct ResolvedPath {
  bool model_root = false;
  std::vector<Step> steps;
  const OneofDescriptor* oneof = nullptr;
  std::string canonical;
};

const FieldDescriptor* FindField(const Descriptor* d, absl::string_view name) {
  if (const FieldDescriptor* f = d->FindFieldByName(std::string(name))) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == name) return d->field(i);
  }
  return nullptr;
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s[0])) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

absl::StatusOr<ResolvedPath> Resolve(const std::string& path, const std::string& field) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", path, "\": ", why));
  };
  if (path.empty()) return bad("empty; expected e.g. training.optimizer.learning_rate");
  ResolvedPath out;
  const std::vector<absl::string_view> segments = absl::StrSplit(path, '.');
  std::vector<std::string> canonical;
  const Descriptor* d = nullptr;
  for (size_t i = 0; i < segments.size(); ++i) {
    absl::string_view seg = segments[i];
    std::optional<int> index;
    if (const size_t open = seg.find('['); open != absl::string_view::npos) {
      const absl::string_view digits = seg.substr(open + 1, seg.size() - open - 2);
      if (seg.back() != ']' || digits.empty() || digits.size() > 6 ||
          !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
        return bad(absl::StrCat("segment \"", seg, "\": an index is [digits]"));
      }
      index = std::stoi(std::string(digits));
      seg = seg.substr(0, open);
    }
    if (!IsIdentifier(seg)) {
      return bad(absl::StrCat("segment ", i + 1, " (\"", seg, "\") is not a field name"));
    }
    if (i == 0) {
      if (seg == "model") {
        out.model_root = true;
        d = v1::ModelSpec::descriptor();
      } else if (seg == "training") {
        d = v1::TrainingConfig::descriptor();
      } else {
        return bad("must start with model. or training.");
      }
      if (index) return bad("the root takes no index");
      canonical.emplace_back(seg);
      continue;
    }
    const bool last = i + 1 == segments.size();
    const FieldDescriptor* f = FindField(d, seg);
    if (f == nullptr) {
      const OneofDescriptor* o = last ? d->FindOneofByName(std::string(seg)) : nullptr;
      if (o != nullptr && !o->is_synthetic() && !index) {
        out.oneof = o;
        canonical.emplace_back(seg);
        break;
      }
      return bad(absl::StrCat("no field \"", seg, "\" in ", d->full_name()));
    }
    if (f->is_map()) return bad(absl::StrCat(f->name(), " is a map; maps cannot be varied"));
    if (index && !f->is_repeated()) {
      return bad(absl::StrCat(f->name(), " is not repeated; it takes no index"));
    }
    if (f->is_repeated() && index && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return bad(absl::StrCat(f->name(), ": only repeated messages can be indexed"));
    }
    if (!last) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        return bad(absl::StrCat(f->name(), " is a scalar; nothing below it"));
      }
      if (f->is_repeated() && !index) {
        return bad(absl::StrCat(f->name(), " is repeated; name an element, e.g. ",
                                f->name(), "[0]"));
      }
      d = f->message_type();
    }
    out.steps.push_back({f, index});
    canonical.push_back(index ? absl::StrCat(f->name(), "[", *index, "]") : f->name());
  }
  if (out.steps.empty() && out.oneof == nullptr) {
    return bad("names a whole root; name a field below it");
  }
  out.canonical = absl::StrJoin(canonical, ".");
  return out;
}

std::string ValueJson(const google::protobuf::Value& value) {
  std::string json;
  // A Value always prints (it is JSON by construction); an empty string on a
  // failure would then be refused by the parser with its own message.
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) json.clear();
  return json;
}

absl::Status ParseInto(const std::string& json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a typo inside a value must not vanish
  const auto status = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StripTrailingAsciiWhitespace(std::string(status.message())));
}

// Sets `path` in the trial to `value`. Errors say why, without the trial
// prefix (the caller adds it).
absl::Status Apply(const ResolvedPath& path, const google::protobuf::Value& value,
                   v1::ModelSpec* model, v1::TrainingConfig* training) {
  Message* msg = path.model_root ? static_cast<Message*>(model) : training;
  const size_t walk = path.oneof != nullptr ? path.steps.size() : path.steps.size() - 1;
  for (size_t i = 0; i < walk; ++i) {
    const Step& step = path.steps[i];
    const Reflection* refl = msg->GetReflection();
    if (const OneofDescriptor* o = step.field->real_containing_oneof()) {
      const FieldDescriptor* set = refl->GetOneofFieldDescriptor(*msg, o);
      if (set != nullptr && set != step.field) {
        return absl::InvalidArgumentError(absl::StrCat(
            "goes through ", step.field->name(), " but this trial's ", o->name(),
            " is ", set->name(), "; vary the whole ", o->name(), " instead"));
      }
    }
    if (step.index) {
      const int size = refl->FieldSize(*msg, step.field);
      if (*step.index >= size) {
        return absl::InvalidArgumentError(absl::StrCat(
            step.field->name(), "[", *step.index, "] is out of range: this trial has ", size,
            " ", step.field->name()));
      }
      msg = refl->MutableRepeatedMessage(msg, step.field, *step.index);
    } else {
      msg = refl->MutableMessage(msg, step.field);
    }
  }
  const Reflection* refl = msg->GetReflection();
  const std::string json = ValueJson(value);

  if (path.oneof != nullptr) {
    // A whole oneof: {"member": value}, one member, parsed as the enclosing
    // message so the member's own JSON mapping applies.
    const auto& fields = value.struct_value().fields();
    if (value.kind_case() != google::protobuf::Value::kStructValue || fields.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a oneof's value is an object with exactly one member (one of ",
          path.oneof->name(), "'s fields), got ", json));
    }
    const FieldDescriptor* member = FindField(msg->GetDescriptor(), fields.begin()->first);
    if (member == nullptr || member->real_containing_oneof() != path.oneof) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", fields.begin()->first, "\" is not a member of oneof ", path.oneof->name()));
    }
    std::unique_ptr<Message> parsed(msg->New());
    if (absl::Status s = ParseInto(json, parsed.get()); !s.ok()) return s;
    refl->ClearOneof(msg, path.oneof);
    msg->MergeFrom(*parsed);
    return absl::OkStatus();
  }

  const Step& last = path.steps.back();
  if (last.index) {
    const int size = refl->FieldSize(*msg, last.field);
    if (*last.index >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          last.field->name(), "[", *last.index, "] is out of range: this trial has ", size, " ",
          last.field->name()));
    }
    Message* element = refl->MutableRepeatedMessage(msg, last.field, *last.index);
    std::unique_ptr<Message> parsed(element->New());
    if (absl::Status s = ParseInto(json, parsed.get()); !s.ok()) return s;
    element->CopyFrom(*parsed);
    return absl::OkStatus();
  }
  // Any other field: parse {"name": value} as the enclosing message, so the
  // protobuf JSON mapping converts and checks the value (integers, enum
  // names, nested messages, lists) exactly as it does for a whole spec; then
  // clear the field and merge the one parsed field in (for a oneof member
  // that also clears the other members).
  std::unique_ptr<Message> parsed(msg->New());
  if (absl::Status s = ParseInto(absl::StrCat("{\"", last.field->name(), "\":", json, "}"),
                                 parsed.get());
      !s.ok()) {
    return s;
  }
  refl->ClearField(msg, last.field);
  msg->MergeFrom(*parsed);
  return absl::OkStatus();
}

// One parameter, checked and ready to produce values.
struct Domain {
  ResolvedPath path;
  const v1::SearchParameter* param = nullptr;
  int64_t grid_size = 0;  // number of grid points (GRID) or of list/int choices
};

google::protobuf::Value NumberValue(double x) {
  google::protobuf::Value v;
  v.set_number_value(x);
  return v;
}

// The k-th of n evenly spaced points from lo to hi (geometrically when log).
double GridPoint(const v1::DoubleRange& r, bool log, int64_t k) {
  const int64_t n = r.count();
  if (n <= 1 || k == 0) return r.min();
  if (k == n - 1) return r.max();  // exact end point, no rounding drift
  const double t = static_cast<double>(k) / static_cast<double>(n - 1);
  if (log) return std::exp(std::log(r.min()) + t * (std::log(r.max()) - std::log(r.min())));
  return r.min() + t * (r.max() - r.min());
}

google::protobuf::Value GridValue(const Domain& d, int64_t k) {
  const v1::SearchParameter& p = *d.param;
  switch (p.domain_case()) {
    case v1::SearchParameter::kValues:
      return p.values().values(static_cast<int>(k));
    case v1::SearchParameter::kUniform:
      return NumberValue(GridPoint(p.uniform(), false, k));
    case v1::SearchParameter::kLogUniform:
      return NumberValue(GridPoint(p.log_uniform(), true, k));
    case v1::SearchParameter::kIntRange: {
      const int64_t step = p.int_range().step() == 0 ? 1 : p.int_range().step();
      return NumberValue(static_cast<double>(p.int_range().min() + k * step));
    }
    case v1::SearchParameter::DOMAIN_NOT_SET:
      break;
  }
  return {};  // unreachable: CheckDomain refused an unset domain
}

google::protobuf::Value RandomValue(const Domain& d, Rng& rng) {
  const v1::SearchParameter& p = *d.param;
  switch (p.domain_case()) {
    case v1::SearchParameter::kValues:
      return p.values().values(static_cast<int>(rng.Below(p.values().values_size())));
    case v1::SearchParameter::kUniform: {
      const v1::DoubleRange& r = p.uniform();
      return NumberValue(r.min() == r.max() ? r.min() : rng.Uniform(r.min(), r.max()));
    }
    case v1::SearchParameter::kLogUniform: {
      const v1::DoubleRange& r = p.log_uniform();
      if (r.min() == r.max()) return NumberValue(r.min());
      return NumberValue(std::exp(rng.Uniform(std::log(r.min()), std::log(r.max()))));
    }
    case v1::SearchParameter::kIntRange: {
      const int64_t step = p.int_range().step() == 0 ? 1 : p.int_range().step();
      const uint64_t k = rng.Below(static_cast<uint64_t>(d.grid_size));
      return NumberValue(static_cast<double>(p.int_range().min() + static_cast<int64_t>(k) * step));
    }
    case v1::SearchParameter::DOMAIN_NOT_SET:
      break;
  }
  return {};
}

absl::Status CheckRange(const v1::DoubleRange& r, bool log, bool grid, const std::string& field) {
  if (!std::isfinite(r.min()) || !std::isfinite(r.max())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": min and max must be finite"));
  }
  if (r.min() > r.max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": min ", r.min(), " is greater than max ", r.max()));
  }
  if (log && r.min() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".min: a log-uniform range needs min > 0, got ", r.min()));
  }
  if (grid && r.count() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".count: a GRID takes count evenly spaced points; must be >= 1, got ",
        r.count()));
  }
  if (!grid && r.count() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".count: only for GRID (RANDOM draws from the whole range)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Domain> CheckDomain(const v1::SearchParameter& p, bool grid,
                                   const std::string& field) {
  Domain d;
  d.param = &p;
  auto path = Resolve(p.path(), field + ".path");
  if (!path.ok()) return path.status();
  d.path = *std::move(path);
  switch (p.domain_case()) {
    case v1::SearchParameter::kValues:
      if (p.values().values_size() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".values: empty; give at least one"));
      }
      d.grid_size = p.values().values_size();
      break;
    case v1::SearchParameter::kUniform:
    case v1::SearchParameter::kLogUniform: {
      const bool log = p.domain_case() == v1::SearchParameter::kLogUniform;
      const v1::DoubleRange& r = log ? p.log_uniform() : p.uniform();
      if (absl::Status s = CheckRange(r, log, grid, field + (log ? ".log_uniform" : ".uniform"));
          !s.ok()) {
        return s;
      }
      d.grid_size = grid ? r.count() : 1;
      break;
    }
    case v1::SearchParameter::kIntRange: {
      const v1::IntRange& r = p.int_range();
      const std::string f = field + ".int_range";
      if (r.min() < -kMaxExactInt || r.max() > kMaxExactInt) {
        return absl::InvalidArgumentError(absl::StrCat(f, ": min and max must be within ±2^53"));
      }
      if (r.min() > r.max()) {
        return absl::InvalidArgumentError(
            absl::StrCat(f, ": min ", r.min(), " is greater than max ", r.max()));
      }
      if (r.step() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(f, ".step: must be >= 1, got ", r.step()));
      }
      const int64_t step = r.step() == 0 ? 1 : r.step();
      d.grid_size = (r.max() - r.min()) / step + 1;
      break;
    }
    case v1::SearchParameter::DOMAIN_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": no domain; set one of values, uniform, log_uniform, int_range"));
  }
  return d;
}

}  // namespace

absl::StatusOr<std::string> CanonicalParameterPath(const std::string& path,
                                                   const std::string& field) {
  auto resolved = Resolve(path, field);
  if (!resolved.ok()) return resolved.status();
  return resolved->canonical;
}

absl::StatusOr<std::vector<ExperimentTrial>> ExpandSearchSpace(
    const v1::SearchSpace& space, const v1::ModelSpec& base_model,
    const v1::TrainingConfig& base_training, const ExpansionOptions& options) {
  const std::string& name = options.field_name;
  const bool grid = space.algorithm() == v1::GRID;
  if (!grid && space.algorithm() != v1::RANDOM) {
    return absl::InvalidArgumentError(absl::StrCat(name, ".algorithm: must be GRID or RANDOM"));
  }
  if (space.parameters_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ".parameters: empty; an experiment varies at least one field"));
  }
  if (grid && space.trials() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ".trials: only for RANDOM (a GRID has one trial per combination)"));
  }
  if (grid && space.seed() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ".seed: only for RANDOM (a GRID draws nothing)"));
  }
  if (!grid && (space.trials() < 1 || space.trials() > options.max_trials)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ".trials: must be in [1, ", options.max_trials, "], got ", space.trials()));
  }

  std::vector<Domain> domains;
  std::set<std::string> seen;
  int64_t grid_trials = 1;
  std::vector<std::string> factors;
  for (int i = 0; i < space.parameters_size(); ++i) {
    const std::string field = absl::StrCat(name, ".parameters[", i, "]");
    auto d = CheckDomain(space.parameters(i), grid, field);
    if (!d.ok()) return d.status();
    if (!seen.insert(d->path.canonical).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".path: ", d->path.canonical, " is already varied by an earlier parameter"));
    }
    if (grid) {
      factors.push_back(absl::StrCat(d->grid_size));
      // Saturate instead of overflowing: anything past the cap is refused.
      grid_trials = d->grid_size > options.max_trials ? int64_t{options.max_trials} + 1
                                                      : grid_trials * d->grid_size;
      if (grid_trials > options.max_trials) grid_trials = int64_t{options.max_trials} + 1;
    }
    domains.push_back(*std::move(d));
  }
  if (grid && grid_trials > options.max_trials) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": the grid has more than ", options.max_trials, " trials (",
        absl::StrJoin(factors, " x "), " values); the limit is ", options.max_trials));
  }

  const int64_t n = grid ? grid_trials : space.trials();
  const Rng seeded(space.seed());
  std::vector<ExperimentTrial> trials;
  trials.reserve(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    ExperimentTrial trial;
    trial.index = static_cast<int>(t);
    trial.model = base_model;
    trial.training = base_training;
    // Trial t's draws come from a stream of its own, so trial t is the same
    // whatever the trial count.
    Rng rng = seeded.Fork(static_cast<uint64_t>(t));
    // Mixed-radix digits of t, the last parameter fastest.
    std::vector<int64_t> digits(domains.size());
    if (grid) {
      int64_t rest = t;
      for (size_t i = domains.size(); i-- > 0;) {
        digits[i] = rest % domains[i].grid_size;
        rest /= domains[i].grid_size;
      }
    }
    for (size_t i = 0; i < domains.size(); ++i) {
      const Domain& d = domains[i];
      google::protobuf::Value value = grid ? GridValue(d, digits[i]) : RandomValue(d, rng);
      if (absl::Status s = Apply(d.path, value, &trial.model, &trial.training); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "trial ", t, ": ", name, ".parameters[", i, "] (", d.path.canonical, " = ",
            ValueJson(value), "): ", s.message()));
      }
      v1::HyperParameter* hp = &trial.hyper_parameters.emplace_back();
      hp->set_path(d.path.canonical);
      *hp->mutable_value() = std::move(value);
    }
    trials.push_back(std::move(trial));
  }
  return trials;
}

}  // namespace trainyard::server
