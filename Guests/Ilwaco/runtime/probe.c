/* probe.c: rdmsr and wrmsr that survive a #GP. While a probe runs, IDT vector 13 points at a handler that
 * records the fault and resumes after the instruction (no iretq, which KVM's emulator cannot run in long mode:
 * the handler reloads the interrupted RSP from the frame and jumps to the continuation the probe left in R9). */
#include "ilwaco.h"

/* The probes: status in R8D (0, or 13 from the handler), continuation in R9. */
__asm__(".text\n"
        ".type ilwaco_probe_rdmsr, @function\n"
        "ilwaco_probe_rdmsr:\n" /* ECX = msr, RSI = where the value goes; returns the status in EAX */
        "  movl %edi, %ecx\n"
        "  xorl %r8d, %r8d\n"
        "  xorl %eax, %eax\n"
        "  xorl %edx, %edx\n"
        "  leaq 1f(%rip), %r9\n"
        "  rdmsr\n"
        "1:\n"
        "  shlq $32, %rdx\n"
        "  movl %eax, %eax\n"
        "  orq %rdx, %rax\n"
        "  movq %rax, (%rsi)\n"
        "  movl %r8d, %eax\n"
        "  ret\n"
        ".type ilwaco_probe_wrmsr, @function\n"
        "ilwaco_probe_wrmsr:\n" /* EDI = msr, RSI = value; returns the status in EAX */
        "  movl %edi, %ecx\n"
        "  movl %esi, %eax\n"
        "  movq %rsi, %rdx\n"
        "  shrq $32, %rdx\n"
        "  xorl %r8d, %r8d\n"
        "  leaq 1f(%rip), %r9\n"
        "  wrmsr\n"
        "1:\n"
        "  movl %r8d, %eax\n"
        "  ret\n"
        ".type ilwaco_probe_gp_handler, @function\n"
        "ilwaco_probe_gp_handler:\n" /* frame: error code, RIP, CS, RFLAGS, RSP, SS */
        "  movl $13, %r8d\n"
        "  movq 32(%rsp), %rsp\n"
        "  jmp *%r9\n");

int ilwaco_probe_rdmsr(uint32_t msr, uint64_t *value);
int ilwaco_probe_wrmsr(uint32_t msr, uint64_t value);
void ilwaco_probe_gp_handler(void);

/** A 64-bit IDT gate. */
struct idt_gate {
  uint16_t offset_low, selector;
  uint8_t ist, type;
  uint16_t offset_middle;
  uint32_t offset_high, reserved;
};

/** The #GP gate of the IDT the CPU uses now. */
static volatile struct idt_gate *gp_gate(void) {
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  return (volatile struct idt_gate *)(uintptr_t)(idtr.base + 13 * sizeof(struct idt_gate));
}

/** Points the #GP gate at the probe handler; returns the gate it replaced. */
static struct idt_gate install_handler(volatile struct idt_gate *gate) {
  struct idt_gate saved = {gate->offset_low, gate->selector, gate->ist, gate->type, gate->offset_middle,
                           gate->offset_high, gate->reserved};
  uint64_t handler = (uint64_t)(uintptr_t)ilwaco_probe_gp_handler;
  gate->offset_low = (uint16_t)handler;
  gate->selector = 0x10;
  gate->ist = 0;
  gate->type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
  gate->offset_middle = (uint16_t)(handler >> 16);
  gate->offset_high = (uint32_t)(handler >> 32);
  gate->reserved = 0;
  __asm__ volatile("" ::: "memory");
  return saved;
}

static void restore_handler(volatile struct idt_gate *gate, struct idt_gate saved) {
  __asm__ volatile("" ::: "memory");
  gate->offset_low = saved.offset_low;
  gate->selector = saved.selector;
  gate->ist = saved.ist;
  gate->type = saved.type;
  gate->offset_middle = saved.offset_middle;
  gate->offset_high = saved.offset_high;
  gate->reserved = saved.reserved;
}

int ilwaco_cpu_try_rdmsr(uint32_t msr, uint64_t *value) {
  volatile struct idt_gate *gate = gp_gate();
  struct idt_gate saved = install_handler(gate);
  uint64_t result = 0;
  int status = ilwaco_probe_rdmsr(msr, &result);
  restore_handler(gate, saved);
  *value = status == 0 ? result : 0;
  return status;
}

int ilwaco_cpu_try_wrmsr(uint32_t msr, uint64_t value) {
  volatile struct idt_gate *gate = gp_gate();
  struct idt_gate saved = install_handler(gate);
  int status = ilwaco_probe_wrmsr(msr, value);
  restore_handler(gate, saved);
  return status;
}
