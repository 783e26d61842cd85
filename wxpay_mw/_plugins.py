"""Registering the host's hooks so that no mistake goes unnoticed.

Three rules, each closing a way a payment was once lost in silence:

- a method named ``wxpay_*`` on a registered plugin is a hook implementation, with or
  without ``@hookimpl`` (pytest treats ``pytest_*`` names the same way), and a
  ``wxpay_*`` name that is no hook is an error;
- the hooks a payment cannot do without are checked before the first payment;
- an ``async def`` hook is refused where nothing would await it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import types
from collections.abc import Iterable
from typing import Any, Final, cast

import pluggy

from . import hookspecs
from .errors import SetupError

__all__ = ["REQUIRED_HOOKS", "Plugins", "is_async_impl"]

log = logging.getLogger("wxpay_mw.app")

#: The hooks without which a payment is lost, and what breaks without each.
REQUIRED_HOOKS: Final[dict[str, str]] = {
    "wxpay_create_order": "POST /prepay cannot build an order (your prices)",
    "wxpay_load_order": (
        "notifications cannot be checked against the stored order, so every one is refused"
    ),
    "wxpay_order_prepaid": (
        "the prepay_id and sign type are never stored, so pay-again, the order-status "
        "check with WeChat and reconciliation cannot work"
    ),
    "wxpay_order_paid": "payments are never recorded, so every notification is answered FAIL",
}

_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)


@functools.lru_cache(maxsize=1024)  # asked for every hook call on the async path
def is_async_impl(impl: pluggy.HookImpl) -> bool:
    """True when calling ``impl`` gives an awaitable: ``async def``, or a plain wrapper
    (``functools.wraps``) around one."""
    return any(
        inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
        for f in (impl.function, inspect.unwrap(impl.function))
    )


class _Manager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        # A forgotten @hookimpl must not leave a payment unrecorded.
        if (
            opts is None
            and name.startswith("wxpay_")
            and isinstance(inspect.getattr_static(plugin, name, None), _HOOKABLE)
        ):
            return cast(pluggy.HookimplOpts, {})
        return opts


class Plugins:
    """The host's plugins for one WxPay object: a pluggy manager and the checks on it."""

    def __init__(self) -> None:
        # One manager per WxPay object: two apps in one process never share plugins.
        self.manager = _Manager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        #: The adapter that can only call plain functions, once one has said so.
        self.sync_only: str | None = None
        self.has_async = False

    @property
    def hook(self) -> Any:
        """The pluggy hook relay."""
        return self.manager.hook

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add ``plugin``; refuse it whole if any of its ``wxpay_*`` names is wrong."""
        try:
            self.manager.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise SetupError(f"{_describe(plugin)}: {exc}") from None
        try:
            self._check_names(plugin)
            self._check_async(self.manager.get_hookcallers(plugin) or [])
        except SetupError:
            self.manager.unregister(plugin)
            raise
        self.has_async = any(is_async_impl(i) for i in self._impls())

    def _check_names(self, plugin: object) -> None:
        unknown = [
            caller.name
            for caller in self.manager.get_hookcallers(plugin) or []
            if not caller.has_spec()
        ]
        if unknown:
            known = ", ".join(sorted(c.name for c in self._callers() if c.has_spec()))
            raise SetupError(
                f"{_describe(plugin)} has {', '.join(sorted(unknown))}, which is no wxpay-mw "
                f"hook: check the spelling, or rename a helper method so that it does not "
                f"start with 'wxpay_' (the hooks are: {known})"
            )

    def _check_async(self, callers: Iterable[pluggy.HookCaller]) -> None:
        for caller in callers:
            impls = caller.get_hookimpls()
            async_impls = [i for i in impls if is_async_impl(i)]
            if not async_impls:
                continue
            where = f"{_describe(async_impls[0].plugin)}.{caller.name} is 'async def'"
            if self.sync_only is not None:
                raise SetupError(
                    f"{where}, but {self.sync_only} calls hooks from synchronous code, where "
                    "nothing can await it: write it as a plain 'def', or serve wxpay-mw "
                    "through the ASGI or Starlette adapter"
                )
            if any(i.hookwrapper or i.wrapper for i in impls):
                raise SetupError(
                    f"{where} and {caller.name} has a wrapper: wrappers work with plain "
                    "'def' hooks only"
                )

    def require_sync(self, adapter: str) -> None:
        """Called by a synchronous adapter: refuse ``async def`` hooks, now and later."""
        self.sync_only = adapter
        self._check_async(self._callers())

    def missing(self, required: Iterable[str] = REQUIRED_HOOKS) -> list[str]:
        """The hooks in ``required`` that no registered plugin implements."""
        return [name for name in required if not getattr(self.hook, name).get_hookimpls()]

    def validate(self) -> None:
        """Raise one SetupError naming every missing required hook; log what is wired."""
        missing = self.missing()
        if missing:
            lines = "\n".join(f"  - {name}: without it, {REQUIRED_HOOKS[name]}" for name in missing)
            raise SetupError(
                f"wxpay-mw cannot take payments: no registered plugin implements\n{lines}\n"
                "Implement them in your plugin (or use the packaged store, wxpay_mw.store) "
                "and pass it to WxPay(config, plugin) or wxpay.register(plugin)."
            )
        wired = sorted(
            f"{caller.name} ({', '.join(_describe(i.plugin) for i in caller.get_hookimpls())})"
            for caller in self._callers()
            if caller.get_hookimpls()
        )
        log.info("wxpay-mw hooks wired: %s", "; ".join(wired))

    def _callers(self) -> list[pluggy.HookCaller]:
        return [c for c in vars(self.manager.hook).values() if isinstance(c, pluggy.HookCaller)]

    def _impls(self) -> list[pluggy.HookImpl]:
        return [i for c in self._callers() for i in c.get_hookimpls()]


def _describe(plugin: object) -> str:
    if inspect.ismodule(plugin):
        return f"module {plugin.__name__}"
    cls = plugin if inspect.isclass(plugin) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"
