"""A seccomp filter that keeps learner code off the kernel keyrings.

Keyrings belong to a user id and live in the host kernel, outside every namespace bubblewrap
makes: a key one learner adds would be readable by the next learner graded under the same uid,
in this run and the next. Every sandbox loads this filter (bubblewrap's `--seccomp FD`), which
makes `add_key`, `request_key` and `keyctl` fail with EPERM, and refuses the 32-bit and x32 system
call tables, where those calls have other numbers.
"""

from __future__ import annotations

import errno
import platform
import struct

# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
NR_OFFSET, ARCH_OFFSET = 0, 4
X32_BIT = 0x40000000

# machine -> (audit arch, numbers of add_key, request_key, keyctl, whether x32 exists)
TABLES = {
    "x86_64": (0xC000003E, (248, 249, 250), True),
    "aarch64": (0xC00000B7, (217, 218, 219), False),
}


class Unsupported(RuntimeError):
    """No filter is known for this machine's architecture."""


def keyring_filter(machine: str | None = None) -> bytes:
    """The BPF program, as bubblewrap reads it from a file descriptor."""
    machine = machine or platform.machine()
    if machine not in TABLES:
        raise Unsupported(f"no seccomp filter for {machine}")
    arch, blocked, has_x32 = TABLES[machine]
    deny = ERRNO | errno.EPERM
    # Instructions as (code, jump-if-true target, jump-if-false target, k); targets are labels.
    program = [("ld", ARCH_OFFSET), ("jeq", arch, None, "deny"), ("ld", NR_OFFSET)]
    if has_x32:
        program.append(("jge", X32_BIT, "deny", None))
    program += [("jeq", number, "deny", None) for number in blocked]
    program += [("ret", ALLOW), ("label", "deny"), ("ret", deny)]
    return _assemble(program)


def _assemble(program: list) -> bytes:
    labels, position = {}, 0
    for instruction in program:
        if instruction[0] == "label":
            labels[instruction[1]] = position
        else:
            position += 1
    code, position = b"", 0
    for instruction in program:
        kind = instruction[0]
        if kind == "label":
            continue
        if kind == "ld":
            code += struct.pack("=HBBI", LD_W_ABS, 0, 0, instruction[1])
        elif kind == "ret":
            code += struct.pack("=HBBI", RET_K, 0, 0, instruction[1])
        else:
            _, k, if_true, if_false = instruction
            opcode = JEQ_K if kind == "jeq" else JGE_K

            def offset(label, position=position):
                return 0 if label is None else labels[label] - position - 1

            code += struct.pack("=HBBI", opcode, offset(if_true), offset(if_false), k)
        position += 1
    return code
