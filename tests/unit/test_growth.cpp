// Tests of growth_of: a leak is a site whose count keeps rising; a pool that
// filled up at start and stays full is not.
#include <gtest/gtest.h>

#include "report/growth.h"

namespace fdtrack {
namespace {

TEST(Growth, ALeakRisesToTheEnd) {
    Growth g = growth_of({{0, 10}, {600, 70}, {1200, 130}, {2700, 280}});
    EXPECT_TRUE(g.growing);
    EXPECT_EQ(g.change, 270);
    EXPECT_DOUBLE_EQ(g.over_s, 2700);
    EXPECT_DOUBLE_EQ(g.per_minute, 6);
    EXPECT_EQ(describe_growth(g), "grew +270 in 45m00s, +6.0/min");
}

TEST(Growth, APoolThatFilledUpEarlyIsNotGrowing) {
    Growth g = growth_of({{0, 1}, {10, 10}, {2700, 10}});
    EXPECT_FALSE(g.growing);
    EXPECT_EQ(g.change, 9);
    EXPECT_EQ(describe_growth(g), "");
}

TEST(Growth, AFallingOrSteadySiteIsNotGrowing) {
    EXPECT_FALSE(growth_of({{0, 50}, {100, 20}, {200, 30}}).growing);
    EXPECT_FALSE(growth_of({{0, 5}, {100, 5}}).growing);
}

TEST(Growth, OneSampleSaysNothing) {
    EXPECT_FALSE(growth_of({}).growing);
    EXPECT_FALSE(growth_of({{0, 5}}).growing);
}

}  // namespace
}  // namespace fdtrack
