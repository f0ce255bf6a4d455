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

TEST(Growth, KeepLastStartsWithTheCountHeldThen) {
    std::vector<CountSample> history{{0, 1}, {100, 2}, {4000, 5}, {7000, 9}};
    keep_last(history, 3600);
    EXPECT_EQ(history, (std::vector<CountSample>{{3400, 2}, {4000, 5}, {7000, 9}}));
    std::vector<CountSample> short_one{{10, 1}, {20, 2}};
    keep_last(short_one, 3600);
    EXPECT_EQ(short_one, (std::vector<CountSample>{{10, 1}, {20, 2}}));
    std::vector<CountSample> exact{{0, 1}, {3600, 2}, {7200, 3}};
    keep_last(exact, 3600);
    EXPECT_EQ(exact, (std::vector<CountSample>{{3600, 2}, {7200, 3}}));
}

}  // namespace
}  // namespace fdtrack
