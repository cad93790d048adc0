"""Where the traversal is: scope, statement, tape block. Rules ask it whether a
node is on the gradient path instead of tracking that themselves."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import (
    Blocking, DataFlow, is_item_write, mutates_live, target_name_nodes, target_names, walk_scope,
)
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.scopes import ModuleAnalysis, Scope
from tfgradfix.analysis.sources import enclosing_blocks, helper_restricted, restricted
from tfgradfix.analysis.tapes import find_tape_blocks, names_bound, watched_names
from tfgradfix.analysis.tree import BatchableVisitor, Parents, contains

# NumPy calls that copy a tensor into an array (what `.numpy()` does).
_NUMPY_COPIES = frozenset({"numpy.array", "numpy.asarray", "numpy.copy"})


class TraversalContext(BatchableVisitor):
    """Runs first in the batched traversal, so rules see an up-to-date context."""

    def __init__(self, analysis: ModuleAnalysis) -> None:
        super().__init__()
        self.analysis = analysis
        self.imports = analysis.imports
        self._scopes: list[Scope] = [analysis.scopes[analysis.module]]
        self._statements: list[cst.CSTNode] = []
        self._tape_depth: list[int] = [0]
        self._tests: list[cst.BaseExpression] = []
        self._numpy_lambdas = 0  # depth inside lambdas handed to tf.numpy_function
        self.parent = Parents(analysis.module)

    # -- tracking --------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scopes.append(self.analysis.scopes[node])
        self._tape_depth.append(0)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._scopes.pop()
        self._tape_depth.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        if node in self.analysis.numpy_lambdas:
            self._numpy_lambdas += 1
        scope = self.analysis.scopes.get(node)
        if scope is not None:  # a Lambda layer's function: its body is what it returns
            self._scopes.append(scope)
            self._tape_depth.append(0)
            self._statements.append(scope.lambda_statement)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        if original_node in self.analysis.numpy_lambdas:
            self._numpy_lambdas -= 1
        if original_node in self.analysis.scopes:
            self._scopes.pop()
            self._tape_depth.pop()
            self._statements.pop()

    def visit_With(self, node: cst.With) -> None:
        if node in self.analysis.tape_blocks:
            self._tape_depth[-1] += 1

    def leave_With(self, original_node: cst.With) -> None:
        if original_node in self.analysis.tape_blocks:
            self._tape_depth[-1] -= 1

    # LibCST's batched traversal finds hooks by their __name__, so each is spelled out.
    def visit_Assign(self, node: cst.Assign) -> None:
        self._statements.append(node)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self._statements.pop()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._statements.append(node)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        self._statements.pop()

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._statements.append(node)

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        self._statements.pop()

    def visit_Return(self, node: cst.Return) -> None:
        self._statements.append(node)

    def leave_Return(self, original_node: cst.Return) -> None:
        self._statements.pop()

    def visit_Expr(self, node: cst.Expr) -> None:
        self._statements.append(node)

    def leave_Expr(self, original_node: cst.Expr) -> None:
        self._statements.pop()

    def visit_If(self, node: cst.If) -> None:
        self._tests.append(node.test)

    def leave_If(self, original_node: cst.If) -> None:
        self._tests.pop()

    def visit_While(self, node: cst.While) -> None:
        self._tests.append(node.test)

    def leave_While(self, original_node: cst.While) -> None:
        self._tests.pop()

    # -- queries -----------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self._scopes[-1]

    @property
    def flow(self) -> Optional[DataFlow]:
        return self.scope.flow

    def flow_at(self, node: cst.CSTNode) -> Optional[DataFlow]:
        """The scope's data flow as seen from `node`: a name watched only by tapes whose
        block does not hold `node` is no source there (the PDE's forcing term `np.sin(x)`
        after the inner tape that watched `x` for du/dx)."""
        flow = self.flow
        if flow is None or not self.scope.tape_names:
            return flow
        around, elsewhere = set(), set()
        for block in find_tape_blocks(self.scope, self.imports):
            (around if contains(block.node, node) else elsewhere).update(block.watched)
        unwatched = frozenset(elsewhere - around)
        if not unwatched:
            return flow
        return self.scope.analyse(replace(flow.blocking, unwatched=unwatched))

    @property
    def in_tape(self) -> bool:
        if self._tape_depth[-1] <= 0:
            return False
        if not self.analysis.unrecorded or not self._statements:
            return True
        node: Optional[cst.CSTNode] = self._statements[-1]
        while node is not None and node not in self.analysis.tape_blocks:
            if node in self.analysis.unrecorded:
                return False  # after the tape's last gradient: recorded for nothing
            node = self.parent(node)
        return True

    @property
    def on_gradient_path(self) -> bool:
        return (self.scope.forward or self.in_tape) and not self._numpy_lambdas and not self._at_inference()

    def _at_inference(self) -> bool:
        """In a branch that runs only when the code is not training (`analysis/training_mode.py`),
        of a Keras forward method or of a helper every taped call leaves training, or under an
        option no taped call sets that way (`helper_untaken_blocks`): the statement visited, or
        the test of the innermost `if`."""
        if self.scope.is_keras_forward:
            regions = self.analysis.inference_only
        elif (isinstance(self.scope.node, cst.FunctionDef) and self.scope.forward) or self.in_tape:
            regions = self.analysis.helper_untaken_blocks(self.scope)
        else:
            return False
        if not regions:
            return False
        for node in (self.statement, self._tests[-1] if self._tests else None):
            while node is not None and not isinstance(node, cst.FunctionDef):
                if node in regions:
                    return True
                node = self.parent(node)
        return False

    @property
    def statement(self) -> Optional[cst.CSTNode]:
        return self._statements[-1] if self._statements else None

    def statement_is_live(self) -> bool:
        """Whether the statement being visited feeds the scope's output or loss."""
        flow = self.flow
        statement = self.statement
        if flow is None or statement is None:
            return False
        if isinstance(statement, cst.Return):
            return self.scope.forward and not self.scope.result_unused
        if isinstance(statement, cst.Assign):
            return any(
                name in flow.live for t in statement.targets for name in target_names(t.target)
            )
        if isinstance(statement, (cst.AnnAssign, cst.AugAssign)):
            return any(name in flow.live for name in target_names(statement.target))
        if isinstance(statement, cst.Expr):
            return any(expr is statement.value or contains(statement.value, expr)
                       for expr in flow.sink_expressions) or mutates_live(statement.value, flow)
        return False

    def feeds_only_numpy_buffers(self) -> bool:
        """Whether the statement being visited reaches the output only as items written into
        NumPy arrays (`returns[t] = running_add`): the array would take a tensor's value without
        its gradient anyway, so what is written there is data (a bootstrapped return, a target),
        and dropping a conversion before it restores nothing."""
        flow, statement = self.flow, self.statement
        if flow is None or statement is None or flow.live_directly is None:
            return False
        if is_item_write(statement):
            return all(name in flow.numpy_buffers() for name in _targets(statement))
        if isinstance(statement, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            return not any(name in flow.live_directly for name in _targets(statement))
        return False

    def in_control_flow_test(self, node: cst.CSTNode) -> bool:
        return any(test is node or contains(test, node) for test in self._tests)

    def only_tested(self, node: cst.CSTNode) -> bool:
        """`node` is in the test of an `if`/`while` and in no statement: it decides a branch."""
        return not (self.statement is not None and contains(self.statement, node)) and self.in_control_flow_test(node)

    def reaches_output(self, node: cst.CSTNode) -> bool:
        """On the gradient path and flowing into the output: what TGF1 reports.
        In a Keras forward method, a Python `if` on a tensor counts too (it
        fails when `model.fit` traces the layer)."""
        if not self.on_gradient_path or self.flow is None:
            return False
        if self.statement is not None and contains(self.statement, node):
            return self.statement_is_live()
        return self.scope.is_keras_forward and not self.scope.runs_eagerly and self.in_control_flow_test(node)

    def feeds_no_gradient(self, node: cst.CSTNode) -> bool:
        """Whether `node`'s value goes only into a result that has no gradient anyway (an
        action sampled from probabilities, an argmax, a comparison), within its statement. Eagerly, in
        a tape, NumPy there loses nothing."""
        flow = self.flow
        current: Optional[cst.CSTNode] = node
        while flow is not None and current is not None and current is not self.statement:
            if isinstance(current, (cst.Comparison, cst.BooleanOperation)) and flow.blocking.comparisons:
                return True  # a mask or a flag
            if isinstance(current, cst.Call):
                qualified = self.imports.resolve(current.func)
                if qualified is not None and flow.blocking.blocks(qualified, current, flow):
                    return True
            current = self.parent(current)
        # Or in later statements: `logits = np.log(probs)`, then `return np.argmax(logits + noise)`.
        statement = self.statement
        if flow is None or not isinstance(statement, (cst.Assign, cst.AnnAssign, cst.AugAssign)) \
                or is_item_write(statement):
            return False
        names = _targets(statement)
        return bool(names) and not any(name in flow.live_differentiably for name in names)

    def probed_in_try(self, node: cst.CSTNode) -> bool:
        """Whether `node` runs in the body of a `try` whose handler catches any error (bare
        `except:`, `except Exception`): a probe (`np.asarray(x)` to read a shape) that gives up
        where TensorFlow refuses, as it does when `fit` traces the layer."""
        child, current = node, self.parent(node)
        while current is not None and current is not self.scope.node:
            if isinstance(current, cst.Try) and child is current.body and any(
                    handler.type is None or dotted_name(handler.type) in ("Exception", "BaseException")
                    for handler in current.handlers):
                return True
            child, current = current, self.parent(current)
        return False

    def under_gradient_override(self, node: cst.CSTNode) -> bool:
        """`node` runs in `with graph.gradient_override_map({...}):`, which gives the ops made there
        a gradient of the project's own (TF 1.x's way to differentiate a `tf.py_func`)."""
        current = self.parent(node)
        while current is not None and not isinstance(current, (cst.FunctionDef, cst.Module)):
            if isinstance(current, cst.With) and any(
                    isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute)
                    and item.item.func.attr.value == "gradient_override_map" for item in current.items):
                return True
            current = self.parent(current)
        return False

    def said_on_purpose(self, node: cst.CSTNode) -> bool:
        """The comment at the end of `node`'s line, or on the line above it, says the cut is meant
        (`velnp = tf.convert_to_tensor(vel.numpy())  # to stop recording`, `# detach: a constant`):
        the author's word that no gradient is wanted there."""
        line: Optional[cst.CSTNode] = node
        while line is not None and not isinstance(line, cst.SimpleStatementLine):
            line = self.parent(line)
        if line is None:
            return False
        comments = [line.trailing_whitespace.comment, *(empty.comment for empty in line.leading_lines[-1:])]
        if any(c is not None and _ON_PURPOSE.search(c.value) for c in comments):
            return True
        function = self.scope.node
        return isinstance(function, cst.FunctionDef) and any(_ON_PURPOSE.search(said) for said in _header(function))

    def feeds_only_records(self, node: cst.CSTNode) -> bool:
        """Whether `node` is stored as an item of a dict the scope keeps as a record (`logs =
        {}`, then `logs["loss"] = loss.numpy()` or `logs.update({"l1": l1.numpy()})`): values
        to print or log beside the loss, which nothing differentiates."""
        parent = self.parent(node)
        if isinstance(parent, cst.DictElement) and parent.value is node:
            table = self.parent(parent)
            holder = self.parent(table)
            if isinstance(holder, cst.Arg):
                call = self.parent(holder)
                return (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                        and call.func.attr.value == "update" and len(call.args) == 1
                        and isinstance(call.func.value, cst.Name) and self._is_record(call.func.value.value))
            return False
        if isinstance(parent, cst.Assign) and parent.value is node and len(parent.targets) == 1:
            target = parent.targets[0].target
            return (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
                    and self._is_record(target.value.value))
        return False

    def _record_use(self, name: cst.Name) -> bool:
        parent = self.parent(name)
        if isinstance(parent, (cst.AssignTarget, cst.AnnAssign)) or (
                isinstance(parent, cst.Subscript) and isinstance(self.parent(parent), cst.AssignTarget)):
            return True  # `logs = {}`, `logs: dict = {}`, `logs["l1"] = ...`
        if isinstance(parent, cst.Attribute) and parent.attr.value == "update":
            return True
        while isinstance(parent, (cst.Element, cst.Tuple, cst.List, cst.Arg)):
            parent = self.parent(parent)
        if isinstance(parent, cst.Return):
            return True
        return isinstance(parent, cst.Call) and isinstance(parent.func, cst.Name) and parent.func.value == "print"

    def copied_as_target(self, node: cst.Call) -> bool:
        """Whether `node` (`q.numpy()`) makes a NumPy copy of a tensor that the scope then writes
        targets into and compares with the tensor itself: `q_backup = q.numpy()`, `q_backup[i,
        a[i]] = r[i] + gamma * next_q[i]`, `(q_backup - q) ** 2`, a DQN's regression target,
        detached on purpose."""
        flow = self.flow
        statement = self.parent(node)
        callee = node.func
        if flow is None:
            return False
        if isinstance(callee, cst.Attribute) and isinstance(callee.value, cst.Name) and callee.attr.value == "numpy":
            original = callee.value.value  # `q.numpy()`
        elif (self.imports.resolve(callee) in _NUMPY_COPIES and len(node.args) == 1
              and isinstance(node.args[0].value, cst.Name)):  # `np.array(q)`
            original = node.args[0].value.value
        else:
            return False
        if not (isinstance(statement, cst.Assign) and statement.value is node and len(statement.targets) == 1
                and isinstance(statement.targets[0].target, cst.Name)):
            return False
        copy = statement.targets[0].target.value
        if copy not in flow.item_assigned:
            return False
        # Compared with the tensor it copies (`q_backup - q`, or a loss of the two: `mse(q_backup,
        # q)`), or, where the copy took its name (`target = np.array(target)`), with the model's
        # output computed again (`values - target`).
        for n in walk_scope(self.scope.body):
            if isinstance(n, cst.BinaryOperation) and isinstance(n.operator, cst.Subtract):
                pair = (_name(n.left), _name(n.right))
            elif isinstance(n, cst.Call) and len(n.args) >= 2 and all(a.keyword is None for a in n.args[:2]):
                pair = (_name(n.args[0].value), _name(n.args[1].value))
            else:
                continue
            if copy in pair and ((set(pair) == {copy, original}) if copy != original else
                                 any(name != copy and name in flow.tainted for name in pair)):
                return True
        return False

    def _is_record(self, name: str) -> bool:
        """A local bound only to an empty dict (`logs = {}`, `logs = dict()`), filled with item
        writes and `update`, and otherwise only returned or printed: nothing computes with it."""
        if not all(self._record_use(n) for n in walk_scope(self.scope.body)
                   if isinstance(n, cst.Name) and n.value == name):
            return False
        flow = self.flow
        # Its own bindings, not the item writes and `update` calls that fill it.
        bound = [b.value for b in flow.bindings if b.name == name and (
                     isinstance(b.statement, cst.AnnAssign) or (isinstance(b.statement, cst.Assign) and all(
                         isinstance(t.target, cst.Name) for t in b.statement.targets)))] if flow is not None else []
        return bool(bound) and all(
            (isinstance(v, cst.Dict) and not v.elements)
            or (isinstance(v, cst.Call) and isinstance(v.func, cst.Name) and v.func.value == "dict" and not v.args)
            for v in bound)

    def feeds_only_indices(self, node: cst.CSTNode) -> bool:
        """Whether `node` is the value of an assignment whose names are read only as positions:
        ids of an embedding lookup, indices of a gather or one-hot, a subscript's index
        (`ids, idx = np.unique(user_ids, return_inverse=True)`). Positions carry no gradient,
        so nothing a gradient needs passes through `node`."""
        # Whatever the expression around `node` computes (`np.argsort(d).ravel()[::-1][3:]`, a new
        # shape `dims[:-2] + [np.prod(dims[-2:])]`), only positions and shapes come of it when it
        # is an index or shape argument itself, or is assigned to names read only as those.
        statement = self.parent(node)
        while isinstance(statement, (cst.BaseExpression, cst.Element, cst.Arg, cst.SubscriptElement, cst.Index,
                                     cst.Slice, cst.CompFor, cst.CompIf)) and not isinstance(statement, cst.Lambda):
            if isinstance(statement, cst.Arg) and self._read_as_position(node, shapes_only=True):
                return True  # `tf.reshape(x, dims[:-2] + [np.prod(dims[-2:])])`
            node, statement = statement, self.parent(statement)
        if not isinstance(statement, cst.Assign) or statement.value is not node:
            return False
        names = {n.value for t in statement.targets for n in target_name_nodes(t.target)}
        if not names or any(not isinstance(t.target, (cst.Name, cst.Tuple, cst.List)) for t in statement.targets):
            return False
        reads = [n for n in walk_scope(self.scope.body) if isinstance(n, cst.Name) and n.value in names
                 and not contains(statement, n)]
        return bool(reads) and all(self._read_as_position(n) for n in reads)

    def _read_as_position(self, name: cst.BaseExpression, shapes_only: bool = False) -> bool:
        parent = self.parent(name)
        if shapes_only:
            return isinstance(parent, cst.Arg) and self._argument_in(parent, _SHAPE_ARGUMENT, _SHAPE_KEYWORDS)
        comprehension = self.parent(parent) if isinstance(parent, cst.CompFor) else None
        if isinstance(comprehension, (cst.ListComp, cst.GeneratorExp)) and parent.iter is name:
            # `[[i] for i in top]` in a gather's indices: the positions, regrouped
            return self._read_as_position(comprehension)
        if isinstance(parent, cst.Element):
            container = self.parent(parent)
            if isinstance(container, (cst.List, cst.Tuple)):
                return self._read_as_position(container)
        if isinstance(parent, cst.Index):
            return True  # `x[idx]`
        if isinstance(parent, cst.Arg):
            return self._argument_in(parent, _POSITION_ARGUMENT, _POSITION_KEYWORDS)
        return False

    def _argument_in(self, arg: cst.Arg, places: dict[str, int], keywords: frozenset[str]) -> bool:
        """`arg` is passed by one of `keywords`, or at the place `places` gives its function."""
        if arg.keyword is not None:
            return arg.keyword.value in keywords
        call = self.parent(arg)
        if not isinstance(call, cst.Call):
            return False
        positional = [a for a in call.args if a.keyword is None]
        qualified = (self.imports.resolve(call.func) or "").rsplit(".", 1)[-1]
        return arg in positional and positional.index(arg) == places.get(qualified, -1)

    def value_at(self, name: cst.Name) -> Optional[cst.BaseExpression]:
        """The value `name` holds where it is read, when one plain assignment before it in
        straight-line code decides it (`t = tf.stop_gradient(t)` just above); None when
        that is not known (other assignments, a loop that rebinds it)."""
        current: Optional[cst.CSTNode] = self.statement
        while current is not None and not isinstance(current, (cst.FunctionDef, cst.Module, cst.Lambda)):
            parent = self.parent(current)
            if isinstance(parent, (cst.For, cst.While)) and name.value in names_bound(parent):
                return None  # the loop's next round may bring another value
            siblings = getattr(parent, "body", None)
            if isinstance(siblings, (list, tuple)) and current in siblings:
                for earlier in reversed(siblings[:siblings.index(current)]):
                    if _watches(earlier, name.value, self.scope.tape_names):
                        return None  # from `tape.watch(x)` on, x is a source, whatever it was bound to
                    if name.value not in names_bound(earlier):
                        continue
                    small = earlier.body[0] if isinstance(earlier, cst.SimpleStatementLine) else None
                    if (isinstance(small, cst.Assign) and len(earlier.body) == 1 and len(small.targets) == 1
                            and isinstance(small.targets[0].target, cst.Name)):
                        return small.value
                    return None
            current = parent
        return None

    def is_tainted(self, expr: cst.BaseExpression) -> bool:
        return self.flow is not None and self.flow.is_tainted(expr)

    def to_sources(self, node: cst.CSTNode, blocking: Blocking) -> Optional[Blocking]:
        """`blocking`, where the models the tapes around `node` do not differentiate carry no
        gradient (a DQN's target network); None when not in a tape or its sources are unknown."""
        if not self.in_tape:
            # A helper the tapes of its callers run: what those tapes differentiate.
            return helper_restricted(self.scope, blocking) if self.scope.forward else None
        return restricted(self.scope, enclosing_blocks(self.scope, node), blocking, node)


# Shapes: a new shape, the repeats of a tile, the shape of a filled tensor.
_SHAPE_KEYWORDS = frozenset({"shape", "multiples"})
_SHAPE_ARGUMENT = {"reshape": 1, "broadcast_to": 1, "tile": 1, "zeros": 0, "ones": 0, "fill": 0, "empty": 0}
# Arguments that are positions into a tensor, not values: by keyword, and by place for the
# functions that take them positionally (`tf.gather(params, indices)`, `tf.one_hot(indices, n)`).
_POSITION_KEYWORDS = frozenset({"ids", "indices", "segment_ids", "positions", "sp_ids"}) | _SHAPE_KEYWORDS
_POSITION_ARGUMENT = {"gather": 1, "gather_nd": 1, "batch_gather": 1, "embedding_lookup": 1,
                      "embedding_lookup_sparse": 1, "one_hot": 0, "scatter_nd": 0, "unsorted_segment_sum": 1,
                      "unsorted_segment_mean": 1, "unsorted_segment_max": 1, "segment_sum": 1, "segment_mean": 1,
                      "take": 1, "take_along_axis": 1, **_SHAPE_ARGUMENT}


def _targets(statement: cst.CSTNode) -> list[str]:
    if isinstance(statement, cst.Assign):
        return [name for t in statement.targets for name in target_names(t.target)]
    return list(target_names(statement.target))


def _watches(statement: cst.CSTNode, name: str, tapes: set[str]) -> bool:
    """The statement is `tape.watch(...)` of one of `tapes`, watching `name`."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    return any(
        isinstance(small, cst.Expr) and isinstance(call := small.value, cst.Call)
        and isinstance(call.func, cst.Attribute) and call.func.attr.value == "watch"
        and isinstance(call.func.value, cst.Name) and call.func.value.value in tapes
        and name in watched_names(call)
        for small in statement.body)


def _header(function: cst.FunctionDef) -> list[str]:
    """What the function says of itself before its code: its docstring, and the comments above its
    first statement (`# These will no longer receive a gradient.`), each line apart."""
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    if not body:
        return []
    first = body[0]
    said = [empty.comment.value for empty in getattr(first, "leading_lines", ()) if empty.comment is not None]
    if (isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr)
            and isinstance(first.body[0].value, cst.SimpleString)):
        said += first.body[0].value.evaluated_value.splitlines() if isinstance(
            first.body[0].value.evaluated_value, str) else []
    return said


def _name(expr: cst.BaseExpression) -> Optional[str]:
    return expr.value if isinstance(expr, cst.Name) else None


# What a comment says when a cut of the gradient is meant (the author's words, in English).
# A question ("why no gradient here?") says nothing is meant, nor a comment that calls it a bug
# ("# Bug: the loss no longer gets a gradient").
_ON_PURPOSE = re.compile(r"^(?!.*\b(bug|todo|fixme|xxx|wrong|broken)\b)[^?]*("
                         r"\bstop(s|ped|ping)?[ _-]?(the[ _-])?(recording|gradients?|grads?|tape|backprop)\b"
                         r"|\bdetach(es|ed|ing)?\b|\bnot (be )?(differentiated|recorded)\b"
                         r"|\bno longer (receives?|recieves?|gets?|ha(s|ve)) (a |any )?gradients?\b)[^?]*$", re.IGNORECASE)
