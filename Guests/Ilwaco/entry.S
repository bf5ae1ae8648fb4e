/* entry.S: the guest entry point. The host enters in long mode with RSP = top of memory and
 * RDI = boot information (see denali/abi.h, "Initial vCPU state"). */
        .section .text.entry, "ax"
        .globl _start
        .type _start, @function
_start:
        xorl    %ebp, %ebp              /* end of the frame chain for debuggers */
        /* RSP is 16-byte aligned here, so each call below enters its callee as the ABI expects. */
        call    ilwaco_start            /* (boot_info in RDI) */
        xorl    %edi, %edi              /* argc = 0, argv = NULL: Swift reads Arguments from boot info */
        xorl    %esi, %esi
        call    main
        movslq  %eax, %rdi
        call    ilwaco_terminate        /* never returns */
1:      hlt
        jmp     1b
        .size _start, . - _start
