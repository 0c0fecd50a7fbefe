"""The sandbox: the real bot, a local Bot API server and a chat page in the browser, so
anybody can try Gespreksmaatje on one machine without Telegram."""

from sandbox.app import SandboxError, SandboxHandle, run_sandbox, start_sandbox

__all__ = ["SandboxError", "SandboxHandle", "run_sandbox", "start_sandbox"]
