/* main.c — `fgq <command> ...`: dispatch to the subcommand, top-level help and version. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} fgq_command;

static const fgq_command k_commands[] = {
    {"inspect", fgq_cmd_inspect, "ops, shapes, parameters and MACs of an ONNX model; what fgq supports"},
    {"weights", fgq_cmd_weights, "quantize every weight tensor with a policy and report bits, SQNR, zeros"},
    {"quantize", fgq_cmd_quantize, "calibrate and write an integer-only model (u8/s8 acts; s8, s4, ternary weights)"},
    {"convert", fgq_cmd_convert, "ONNX -> .fgq: fold, fuse, plan the arena, write the runtime's file"},
    {"run", fgq_cmd_run, "run a model (.fgq or .onnx) on .npy / .pb inputs, write .npy outputs"},
    {"eval", fgq_cmd_eval, "accuracy (top-1, top-5) and samples/s on labelled data"},
    {"export", fgq_cmd_export, "write a .fgq model as QDQ ONNX that ONNX Runtime can run (--onnx)"},
    {"bench", fgq_cmd_bench, "latency p50/p99, arena bytes and its lower bound, weight bytes"},
    {"report", fgq_cmd_report, "one self-contained HTML page of SQNR, sensitivity, weights, accuracy vs bytes"},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "fgq — quantize trained ONNX models for the edge (8-bit affine, int8/int4 groups,\n"
            "FGQ ternary) and report what it cost.\n\n"
            "usage: fgq <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(out, "  %-9s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(out, "\n'fgq <command> --help' for a command's options; 'fgq --version'.\n"
                 "Exit codes: 0 success, 1 internal error, 2 bad usage or bad input.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return FGQ_EXIT_BAD;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return FGQ_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fgq %s\n", FGQ_VERSION_STRING);
        return FGQ_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (strcmp(argv[1], k_commands[i].name) == 0)
            return k_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fgq: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return FGQ_EXIT_BAD;
}
