// jinja_eval.cpp — the chat-template interpreter (see jinja_eval.h).
#include "jinja_eval.h"

#include "jinja_builtins.h"
#include "jinja_lexer.h"

#include "retain/core/error.h"

#include <fmt/format.h>

#include <cmath>

namespace retain::serve::jinja {

namespace {

using T = Value::Type;

struct Scope {
  Object vars;
  std::shared_ptr<Scope> parent;

  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      if (const Value* v = s->vars.find(name)) return v;
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

// Python's slice.indices(): clamps start/stop for a sequence of `length`.
std::vector<size_t> slice_indices(size_t length, const Value& start_v, const Value& stop_v, const Value& step_v) {
  const auto n = static_cast<int64_t>(length);
  const int64_t step = step_v.is(T::None) ? 1 : step_v.as_int();
  if (step == 0) throw std::runtime_error("slice step cannot be zero");
  const auto clamp = [&](const Value& v, int64_t fallback) {
    if (v.is(T::None)) return fallback;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (i < 0) return step < 0 ? int64_t{-1} : int64_t{0};
    if (i >= n) return step < 0 ? n - 1 : n;
    return i;
  };
  const int64_t start = clamp(start_v, step < 0 ? n - 1 : 0);
  const int64_t stop = clamp(stop_v, step < 0 ? -1 : n);
  std::vector<size_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(static_cast<size_t>(i));
  return out;
}

class Evaluator {
 public:
  explicit Evaluator(const Template& program) : program_(program) {}

  std::string run(const Object& variables) {
    auto globals = std::make_shared<Scope>();
    globals->vars = global_functions();
    for (const auto& [key, value] : variables.entries()) globals->vars.set(key, value);
    std::string out;
    render_body(program_.body, globals, out);
    return out;
  }

 private:
  [[noreturn]] void error(const Pos& pos, const std::string& message) const { fail_at(program_.where, pos, message); }

  // Runs `f`, turning a builtin's std::runtime_error into an error at `pos`.
  template <typename F>
  auto at(const Pos& pos, F&& f) const -> decltype(f()) {
    try {
      return f();
    } catch (const retain::Error&) {
      throw;
    } catch (const TemplateRaised& raised) {
      error(pos, fmt::format("the template raised an error: {}", raised.what()));
    } catch (const std::exception& e) {
      error(pos, e.what());
    }
  }

  // ---- statements -------------------------------------------------------------------------------

  Flow render_body(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow flow = render_node(*node, scope, out);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  Flow render_node(const Node& n, const ScopePtr& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::Text:
        out += n.text;
        return Flow::Normal;
      case Node::Kind::Output:
        out += eval(*n.expr, scope).str();
        return Flow::Normal;
      case Node::Kind::If:
        for (const auto& [condition, body] : n.branches)
          if (eval(*condition, scope).truthy()) return render_body(body, scope, out);
        return render_body(n.else_body, scope, out);
      case Node::Kind::For:
        return render_for(n, scope, out);
      case Node::Kind::Set: {
        Value value = eval(*n.expr, scope);
        if (!n.attribute.empty()) {
          const Value* target = scope->lookup(n.targets[0]);
          if (!target || !target->is(T::Namespace))
            error(n.pos, fmt::format("cannot set '{}.{}': '{}' is not a namespace (make it with namespace(...))", n.targets[0],
                                     n.attribute, n.targets[0]));
          target->mutable_fields().set(n.attribute, std::move(value));
        } else if (n.targets.size() == 1) {
          scope->vars.set(n.targets[0], std::move(value));
        } else {
          unpack(n.pos, n.targets, value, *scope);
        }
        return Flow::Normal;
      }
      case Node::Kind::SetBlock: {
        std::string text;
        render_body(n.body, scope, text);
        scope->vars.set(n.targets[0], Value::string(std::move(text)));
        return Flow::Normal;
      }
      case Node::Kind::Macro:
        scope->vars.set(n.text, make_macro(n, scope));
        return Flow::Normal;
      case Node::Kind::Break:
        return Flow::Break;
      case Node::Kind::Continue:
        return Flow::Continue;
    }
    return Flow::Normal;
  }

  void unpack(const Pos& pos, const std::vector<std::string>& targets, const Value& value, Scope& scope) const {
    if (!value.is(T::Array)) error(pos, fmt::format("cannot unpack a {} into {} names", value.type_name(), targets.size()));
    if (value.items().size() != targets.size())
      error(pos, fmt::format("cannot unpack {} values into {} names", value.items().size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) scope.vars.set(targets[i], value.items()[i]);
  }

  std::vector<Value> iterate(const Pos& pos, const Value& v) const {
    switch (v.type()) {
      case T::Undefined:
        return {};
      case T::Array:
        return v.items();
      case T::Object:
      case T::String:
        return apply_filter("list", v, {}, {}).items();
      default:
        error(pos, fmt::format("cannot loop over a {}", v.type_name()));
    }
  }

  Flow render_for(const Node& n, const ScopePtr& scope, std::string& out) {
    auto loop_scope = std::make_shared<Scope>();
    loop_scope->parent = scope;
    std::vector<Value> items = iterate(n.pos, eval(*n.expr, scope));
    const auto bind = [&](Scope& s, const Value& item) {
      if (n.targets.size() == 1)
        s.vars.set(n.targets[0], item);
      else
        unpack(n.pos, n.targets, item, s);
    };
    if (n.condition) {
      std::vector<Value> kept;
      for (const Value& item : items) {
        auto test_scope = std::make_shared<Scope>();
        test_scope->parent = scope;
        bind(*test_scope, item);
        if (eval(*n.condition, test_scope).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return render_body(n.else_body, loop_scope, out);
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      Object loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(length - i));
      loop.set("revindex0", Value::integer(length - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == length - 1));
      loop.set("length", Value::integer(length));
      loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
      loop.set("nextitem", i + 1 < length ? items[i + 1] : Value::undefined("there is no next item"));
      loop_scope->vars.set("loop", Value::object(std::move(loop)));
      bind(*loop_scope, items[i]);
      if (render_body(n.body, loop_scope, out) == Flow::Break) break;
    }
    return Flow::Normal;
  }

  Value make_macro(const Node& n, const ScopePtr& defined_in) {
    const Node* node = &n;
    return Value::function(n.text, [this, node, defined_in](const std::vector<Value>& args, const Kwargs& kwargs) {
      auto scope = std::make_shared<Scope>();
      scope->parent = defined_in;
      if (args.size() > node->params.size())
        throw std::runtime_error(fmt::format("macro '{}' takes {} arguments, got {}", node->text, node->params.size(), args.size()));
      for (size_t i = 0; i < node->params.size(); ++i) {
        const auto& [name, fallback] = node->params[i];
        const Value* given = i < args.size() ? &args[i] : nullptr;
        for (const auto& [key, value] : kwargs)
          if (key == name) given = &value;
        if (given)
          scope->vars.set(name, *given);
        else if (fallback)
          scope->vars.set(name, eval(*fallback, scope));
        else
          scope->vars.set(name, Value::undefined(fmt::format("'{}' is undefined (no argument given)", name)));
      }
      for (const auto& [key, value] : kwargs) {
        bool known = false;
        for (const auto& param : node->params) known = known || param.first == key;
        if (!known) throw std::runtime_error(fmt::format("macro '{}' has no parameter '{}'", node->text, key));
      }
      std::string out;
      render_body(node->body, scope, out);
      return Value::string(std::move(out));
    });
  }

  // ---- expressions ------------------------------------------------------------------------------

  Value eval(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal:
        return e.value;
      case Expr::Kind::Name: {
        const Value* v = scope->lookup(e.name);
        return v ? *v : Value::undefined(fmt::format("'{}' is undefined", e.name));
      }
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        std::vector<Value> items;
        for (const auto& item : e.args) items.push_back(eval(*item, scope));
        return Value::array(std::move(items));
      }
      case Expr::Kind::Dict: {
        Object o;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value key = eval(*e.args[i], scope);
          if (!key.is(T::String)) error(e.args[i]->pos, fmt::format("dict keys must be strings, got {}", key.type_name()));
          o.set(key.as_string(), eval(*e.args[i + 1], scope));
        }
        return Value::object(std::move(o));
      }
      case Expr::Kind::Attr:
        return attribute(e, eval(*e.args[0], scope), e.name);
      case Expr::Kind::Item:
        return item(e, eval(*e.args[0], scope), eval(*e.args[1], scope));
      case Expr::Kind::Slice:
        return slice(e, scope);
      case Expr::Kind::Call:
        return call(e, scope);
      case Expr::Kind::Filter: {
        const Value subject = eval(*e.args[0], scope);
        const auto [args, kwargs] = arguments(e, scope);
        return at(e.pos, [&] { return apply_filter(e.name, subject, args, kwargs); });
      }
      case Expr::Kind::Test: {
        const Value subject = eval(*e.args[0], scope);
        const auto [args, kwargs] = arguments(e, scope);
        return Value::boolean(at(e.pos, [&] { return apply_test(e.name, subject, args); }) != e.negate);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.args[0], scope);
        if (e.name == "not") return Value::boolean(!v.truthy());
        if (v.is(T::Float)) return Value::floating(e.name == "-" ? -v.as_double() : v.as_double());
        if (v.is_number()) return Value::integer(e.name == "-" ? -v.as_int() : v.as_int());
        error(e.pos, fmt::format("bad operand for unary {}: {}", e.name, describe_value(v)));
      }
      case Expr::Kind::Binary:
        return binary(e, scope);
      case Expr::Kind::Ternary:
        if (eval(*e.args[1], scope).truthy()) return eval(*e.args[0], scope);
        return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the condition of an 'if' without 'else' was false");
    }
    return {};
  }

  static std::string describe_value(const Value& v) {
    if (v.is_undefined()) return "undefined (" + v.description() + ")";
    return v.type_name();
  }

  std::pair<std::vector<Value>, Kwargs> arguments(const Expr& e, const ScopePtr& scope) {
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i], scope));
    Kwargs kwargs;
    for (const auto& [key, value] : e.kwargs) kwargs.emplace_back(key, eval(*value, scope));
    return {std::move(args), std::move(kwargs)};
  }

  Value attribute(const Expr& e, const Value& object, const std::string& name) const {
    if (object.is_undefined())
      error(e.pos, fmt::format("cannot read attribute '{}' of an undefined value: {}", name, object.description()));
    if (object.is_mapping()) {
      if (object.is(T::Object)) {
        // Python's getattr comes first: d.items is the method even when there is a key "items".
        if (name == "items" || name == "keys" || name == "values" || name == "get") return method(object, name);
      }
      if (const Value* v = object.fields().find(name)) return *v;
      return Value::undefined(fmt::format("the {} has no key '{}'", object.type_name(), name));
    }
    return method(object, name);
  }

  Value item(const Expr& e, const Value& object, const Value& key) const {
    if (object.is_undefined())
      error(e.pos, fmt::format("cannot index an undefined value: {}", object.description()));
    if (object.is_mapping()) {
      if (key.is(T::String)) {
        if (const Value* v = object.fields().find(key.as_string())) return *v;
        return Value::undefined(fmt::format("the {} has no key '{}'", object.type_name(), key.as_string()));
      }
      return Value::undefined(fmt::format("the {} has no key {}", object.type_name(), key.repr()));
    }
    if ((object.is(T::Array) || object.is(T::String)) && (key.is(T::Int) || key.is(T::Bool))) {
      const std::vector<Value> items = object.is(T::Array) ? object.items() : apply_filter("list", object, {}, {}).items();
      int64_t i = key.as_int();
      if (i < 0) i += static_cast<int64_t>(items.size());
      if (i < 0 || i >= static_cast<int64_t>(items.size()))
        return Value::undefined(fmt::format("index {} is out of range for a {} of length {}", key.as_int(), object.type_name(),
                                            items.size()));
      return items[static_cast<size_t>(i)];
    }
    if (key.is(T::String)) return attribute(e, object, key.as_string());
    return Value::undefined(fmt::format("a {} cannot be indexed by a {}", object.type_name(), key.type_name()));
  }

  Value slice(const Expr& e, const ScopePtr& scope) {
    const Value object = eval(*e.args[0], scope);
    Value bounds[3];
    for (int k = 0; k < 3; ++k) {
      bounds[k] = e.args[k + 1] ? eval(*e.args[k + 1], scope) : Value::none();
      if (!bounds[k].is(T::None) && !bounds[k].is(T::Int))
        error(e.pos, fmt::format("slice indices must be integers or none, got {}", describe_value(bounds[k])));
    }
    if (!object.is(T::Array) && !object.is(T::String)) error(e.pos, fmt::format("cannot slice a {}", describe_value(object)));
    const std::vector<Value> items = object.is(T::Array) ? object.items() : apply_filter("list", object, {}, {}).items();
    const auto indices = at(e.pos, [&] { return slice_indices(items.size(), bounds[0], bounds[1], bounds[2]); });
    if (object.is(T::String)) {
      std::string out;
      for (size_t i : indices) out += items[i].as_string();
      return Value::string(out);
    }
    std::vector<Value> out;
    for (size_t i : indices) out.push_back(items[i]);
    return Value::array(std::move(out));
  }

  Value call(const Expr& e, const ScopePtr& scope) {
    const Value callee = eval(*e.args[0], scope);
    if (callee.is_undefined()) error(e.pos, fmt::format("cannot call an undefined value: {}", callee.description()));
    if (!callee.is(T::Function)) error(e.pos, fmt::format("a {} is not callable", callee.type_name()));
    const auto [args, kwargs] = arguments(e, scope);
    return at(e.pos, [&] { return callee.callable()(args, kwargs); });
  }

  Value binary(const Expr& e, const ScopePtr& scope) {
    const std::string& op = e.name;
    const Value left = eval(*e.args[0], scope);
    if (op == "and") return left.truthy() ? eval(*e.args[1], scope) : left;
    if (op == "or") return left.truthy() ? left : eval(*e.args[1], scope);
    const Value right = eval(*e.args[1], scope);
    if (op == "==") return Value::boolean(equal(left, right));
    if (op == "!=") return Value::boolean(!equal(left, right));
    if (op == "~") return Value::string(left.str() + right.str());
    if (op == "in" || op == "not in") {
      if (right.is(T::None) || right.is_number())
        error(e.pos, fmt::format("'in' needs a string, list or dict on the right, got {}", right.type_name()));
      if (right.is(T::String) && !left.is(T::String))
        error(e.pos, fmt::format("'in <string>' needs a string on the left, got {}", describe_value(left)));
      const bool found = at(e.pos, [&] { return apply_test("in", left, {right}); });
      return Value::boolean(found == (op == "in"));
    }
    const auto type_error = [&]() {
      error(e.pos, fmt::format("unsupported operand types for {}: {} and {}", op, describe_value(left), describe_value(right)));
    };
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      if (left.is_undefined() || right.is_undefined()) type_error();
      return Value::boolean(at(e.pos, [&] {
        if (op == "<") return less(left, right);
        if (op == ">") return less(right, left);
        if (op == "<=") return !less(right, left);
        return !less(left, right);
      }));
    }
    if (left.is_number() && right.is_number()) return arithmetic(e, op, left, right);
    if (op == "+") {
      if (left.is(T::String) && right.is(T::String)) return Value::string(left.as_string() + right.as_string());
      if (left.is(T::Array) && right.is(T::Array)) {
        std::vector<Value> items = left.items();
        items.insert(items.end(), right.items().begin(), right.items().end());
        return Value::array(std::move(items));
      }
    }
    if (op == "*" && (left.is(T::String) || left.is(T::Array)) && right.is(T::Int)) {
      std::vector<Value> items;
      std::string text;
      for (int64_t i = 0; i < right.as_int(); ++i) {
        if (left.is(T::String)) text += left.as_string();
        else items.insert(items.end(), left.items().begin(), left.items().end());
      }
      return left.is(T::String) ? Value::string(text) : Value::array(std::move(items));
    }
    if (op == "%" && left.is(T::String)) error(e.pos, "string formatting with % is not supported");
    type_error();
    return {};
  }

  Value arithmetic(const Expr& e, const std::string& op, const Value& a, const Value& b) const {
    const bool floats = a.is(T::Float) || b.is(T::Float);
    if (op == "/") {
      if (b.as_double() == 0) error(e.pos, "division by zero");
      return Value::floating(a.as_double() / b.as_double());
    }
    if (op == "**") {
      if (!floats && b.as_int() >= 0) {
        int64_t r = 1;
        for (int64_t i = 0; i < b.as_int(); ++i) r *= a.as_int();
        return Value::integer(r);
      }
      return Value::floating(std::pow(a.as_double(), b.as_double()));
    }
    if (floats) {
      const double x = a.as_double(), y = b.as_double();
      if (op == "+") return Value::floating(x + y);
      if (op == "-") return Value::floating(x - y);
      if (op == "*") return Value::floating(x * y);
      if (y == 0) error(e.pos, "division by zero");
      if (op == "//") return Value::floating(std::floor(x / y));
      const double r = std::fmod(x, y);
      return Value::floating(r != 0 && ((r < 0) != (y < 0)) ? r + y : r);  // Python's sign of the divisor
    }
    const int64_t x = a.as_int(), y = b.as_int();
    if (op == "+") return Value::integer(x + y);
    if (op == "-") return Value::integer(x - y);
    if (op == "*") return Value::integer(x * y);
    if (y == 0) error(e.pos, "division by zero");
    int64_t q = x / y, r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      --q;
      r += y;
    }
    return Value::integer(op == "//" ? q : r);
  }

  const Template& program_;
};

}  // namespace

std::string render(const Template& program, const Object& variables) { return Evaluator(program).run(variables); }

}  // namespace retain::serve::jinja
