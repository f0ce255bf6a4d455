/* vfork() that marks the child: it runs on the parent's memory and stack until
 * it execs or exits, so fdtrack's hooks must do nothing there (CPython's
 * subprocess closes and dup2s fds in a vfork child). The flag lives in the
 * calling thread's TLS, which the child shares; the parent clears it when it
 * resumes. Written in assembly because a C wrapper's frame would be clobbered
 * by the child before the parent returns through it. */
    .text
    .globl vfork
    .type vfork, @function
vfork:
    .cfi_startproc
    popq %rdi                       /* return address: the child may reuse this stack slot */
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdi
    movq fdtrack_vfork_child@gottpoff(%rip), %rcx
    movl $1, %fs:(%rcx)
    movl $58, %eax                  /* SYS_vfork */
    syscall
    pushq %rdi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    testq %rax, %rax
    jz 1f                           /* child: keep the flag */
    movq fdtrack_vfork_child@gottpoff(%rip), %rcx
    movl $0, %fs:(%rcx)
    cmpq $-4095, %rax
    jae 2f
1:  ret
2:  negl %eax
    movl %eax, %edi
    jmp fdtrack_vfork_failed       /* sets errno, returns -1 to our caller */
    .cfi_endproc
    .size vfork, .-vfork
    .section .note.GNU-stack,"",@progbits
